"""The registry of conditions a workflow file can name.

A workflow file chooses conditions by name, with parameters, for example::

    conditions = ["comment_required", { name = "quorum", role = "wg_member", min = "all" }]

Conditions combine: ``{ any_of = [...] }`` holds when one of its conditions does,
``{ all_of = [...] }`` when each does, ``{ not = ... }`` when its condition does not.

Each condition is pure: it reads :class:`~napflow.workflow.facts.PlanFacts` and returns None when
it holds, or a sentence saying what is missing. Adding a condition type here makes it
available to every workflow file; the files themselves never contain code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from napflow.i18n import _, format_list, ngettext
from napflow.workflow.facts import ENTERED, HOLDERS, PENDING_DEADLINES, ROUND_ACTIONS, PlanFacts


@dataclass(frozen=True)
class LoadScope:
    """What a condition's parameters may refer to in the workflow being loaded."""

    roles: frozenset[str]
    triggers: frozenset[str]
    #: the deadline kinds the file declares
    deadlines: frozenset[str] = frozenset()


class Words(Protocol):
    """How a condition names things to people: titles and names, not ids and addresses."""

    def role_title(self, role: str) -> str:
        """Return the title of ``role`` in the reader's language."""

    def action_title(self, trigger: str) -> str:
        """Return the title of ``trigger`` in the plan's current state."""

    def names(self, emails: Iterable[str]) -> list[str]:
        """Return the people's names (their addresses where no name is known), sorted."""

    def deadline_title(self, kind: str) -> str:
        """Return the title of deadline kind ``kind`` in the reader's language."""


class Condition:
    """Base class of a named condition; subclasses set ``name``, ``params`` and ``needs``.

    ``failure`` says what is missing in the words of the command line (ids, addresses, the
    option that fixes it); ``explain`` says it to a person in the web app, in ``words``.
    """

    name: ClassVar[str]
    #: parameter name -> True if required
    params: ClassVar[Mapping[str, bool]] = {}
    #: facts (see napflow.workflow.facts) this condition reads, so only those are loaded
    needs: ClassVar[frozenset[str]] = frozenset()

    def failure(self, facts: PlanFacts) -> str | None:
        """Return None if the condition holds, else a sentence saying what is missing."""
        raise NotImplementedError

    def explain(self, facts: PlanFacts, words: Words) -> str | None:
        """Return None if the condition holds, else what is missing, for people."""
        return self.failure(facts)

    def describe(self) -> str:
        """Return a short human description, for ``workflow show``."""
        raise NotImplementedError

    def holds(self, words: Words) -> str:
        """Say to people, in their language, what is so when the condition holds."""
        raise NotImplementedError


class CommentRequired(Condition):
    """The person acting must give a comment (a reason for a return, say)."""

    name = "comment_required"

    def failure(self, facts: PlanFacts) -> str | None:
        """Refuse a missing or blank comment; pass when the comment is not known yet."""
        if facts.listing:
            return None
        if facts.comment is None or not facts.comment.strip():
            return _("a comment is required (give one with %(option)s)") % {"option": "--comment"}
        return None

    def explain(self, facts: PlanFacts, words: Words) -> str | None:
        """Ask for the comment the action needs."""
        if self.failure(facts) is None:
            return None
        return _("this action needs a comment saying why")

    def describe(self) -> str:
        """Describe the condition."""
        return "comment required"

    def holds(self, words: Words) -> str:
        """Say that a comment is given."""
        return _("a comment is given")


class OncePerRound(Condition):
    """Each person may fire this trigger only once per round (an endorsement, say)."""

    name = "once_per_round"
    needs = frozenset({ROUND_ACTIONS})

    def failure(self, facts: PlanFacts) -> str | None:
        """Refuse a second firing by the same person in this round."""
        if facts.actor is None or facts.trigger is None:
            return None
        if facts.actor in facts.actors_of(facts.trigger):
            return _("%(actor)s has already done %(trigger)s in this round") % {
                "actor": facts.actor,
                "trigger": facts.trigger,
            }
        return None

    def explain(self, facts: PlanFacts, words: Words) -> str | None:
        """Say that the person has done this already in this round."""
        if self.failure(facts) is None:
            return None
        return _("you have done this already in this round")

    def describe(self) -> str:
        """Describe the condition."""
        return "once per person per round"

    def holds(self, words: Words) -> str:
        """Say that the person has not done it yet in this round."""
        return _("you have not done this yet in this round")


class DraftPresent(Condition):
    """The plan has a draft of its document (nothing to review or approve without one)."""

    name = "draft_present"

    def failure(self, facts: PlanFacts) -> str | None:
        """Refuse while the plan has no draft."""
        if facts.draft_version:
            return None
        return _("%(key)s has no draft yet (add one with %(command)s)") % {
            "key": facts.key,
            "command": f"`napflow draft add {facts.key} FILE`",
        }

    def explain(self, facts: PlanFacts, words: Words) -> str | None:
        """Say that there is no draft to act on yet."""
        return None if facts.draft_version else _("the plan has no draft yet")

    def describe(self) -> str:
        """Describe the condition."""
        return "a draft is present"

    def holds(self, words: Words) -> str:
        """Say that the plan has a draft."""
        return _("the plan has a draft")


@dataclass(frozen=True)
class RoleAssigned(Condition):
    """At least one person holds ``role`` on the plan (an approver, say)."""

    role: str
    name: ClassVar[str] = "role_assigned"
    params: ClassVar[Mapping[str, bool]] = {"role": True}
    needs: ClassVar[frozenset[str]] = frozenset({HOLDERS})

    def failure(self, facts: PlanFacts) -> str | None:
        """Refuse when nobody holds the role on this plan."""
        if facts.holders_of(self.role):
            return None
        return _("no %(role)s is assigned to %(key)s (grant one with %(command)s)") % {
            "role": self.role,
            "key": facts.key,
            "command": "`napflow role grant`",
        }

    def explain(self, facts: PlanFacts, words: Words) -> str | None:
        """Name the role nobody holds."""
        if facts.holders_of(self.role):
            return None
        return _("nobody holds the role %(role)s yet") % {"role": words.role_title(self.role)}

    def describe(self) -> str:
        """Describe the condition."""
        return f"a {self.role} is assigned"

    def holds(self, words: Words) -> str:
        """Say that someone holds the role."""
        return _("someone holds the role %(role)s") % {"role": words.role_title(self.role)}


@dataclass(frozen=True)
class Quorum(Condition):
    """Enough holders of ``role`` have fired ``trigger`` in this round.

    ``min`` is ``"all"`` (every holder, and at least one holder), a whole number, or a
    fraction of the role's holders at the moment of the action, ``"2/3"`` (rounded up, and
    at least one: two of three holders, three of four).
    """

    role: str
    trigger: str
    min: int | str
    name: ClassVar[str] = "quorum"
    params: ClassVar[Mapping[str, bool]] = {"role": True, "trigger": False, "min": False}
    needs: ClassVar[frozenset[str]] = frozenset({HOLDERS, ROUND_ACTIONS})

    @property
    def fractional(self) -> bool:
        """True if ``min`` is a fraction of the role's holders ("2/3")."""
        return isinstance(self.min, str) and "/" in self.min

    def needed(self, holders: int) -> int | str:
        """Return how many must act (``"all"`` for every holder), of ``holders`` now."""
        if self.fractional:
            top, _slash, bottom = str(self.min).partition("/")
            return max(1, -(-holders * int(top) // int(bottom)))  # rounded up
        return self.min

    def failure(self, facts: PlanFacts) -> str | None:
        """Refuse until the quorum is reached, naming who has not acted yet."""
        holders = facts.holders_of(self.role)
        done = holders & facts.actors_of(self.trigger)
        waiting = sorted(holders - done)
        needed = self.needed(len(holders))
        values = {
            "role": self.role,
            "trigger": self.trigger,
            "key": facts.key,
            "waiting": ", ".join(waiting),
            "min": needed,
            "done": len(done),
        }
        if self.fractional and not holders:
            return _("no %(role)s is assigned to %(key)s, so no quorum can be reached") % values
        if needed == "all":
            if not holders:
                return _("no %(role)s is assigned to %(key)s, so no quorum can be reached") % values
            if not waiting:
                return None
            return _("every %(role)s must %(trigger)s first; waiting for %(waiting)s") % values
        assert isinstance(needed, int)
        if len(done) >= needed:
            return None
        return (
            ngettext(
                "at least %(min)d %(role)s %(trigger)s needed in this round, %(done)d so far",
                "at least %(min)d %(role)s %(trigger)s needed in this round, %(done)d so far",
                needed,
            )
            % values
        )

    def explain(self, facts: PlanFacts, words: Words) -> str | None:
        """Say how many of whom are still missing, by name."""
        if self.failure(facts) is None:
            return None
        holders = facts.holders_of(self.role)
        role = words.role_title(self.role)
        if not holders:
            return _("nobody holds the role %(role)s yet") % {"role": role}
        waiting = words.names(holders - facts.actors_of(self.trigger))
        values = {
            "role": role,
            "action": words.action_title(self.trigger),
            "count": len(waiting),
            "names": format_list(waiting),
        }
        needed = self.needed(len(holders))
        if needed == "all":
            return (
                ngettext(
                    'needs "%(action)s" from everyone in the role %(role)s: '
                    "%(count)d missing (%(names)s)",
                    'needs "%(action)s" from everyone in the role %(role)s: '
                    "%(count)d missing (%(names)s)",
                    len(waiting),
                )
                % values
            )
        assert isinstance(needed, int)
        done = len(holders) - len(waiting)
        return ngettext(
            'needs "%(action)s" from at least %(min)d person in the role %(role)s: %(done)d so far',
            'needs "%(action)s" from at least %(min)d people in the role %(role)s: %(done)d so far',
            needed,
        ) % {**values, "min": needed, "done": done}

    def describe(self) -> str:
        """Describe the condition."""
        amount = "every" if self.min == "all" else f"at least {self.min}"
        if self.fractional:
            amount = f"at least {self.min} of the"
        return f"{amount} {self.role} did {self.trigger} this round"

    def holds(self, words: Words) -> str:
        """Say that enough people in the role have done the action."""
        return _('enough people in the role %(role)s have done "%(action)s"') % {
            "role": words.role_title(self.role),
            "action": words.action_title(self.trigger),
        }


@dataclass(frozen=True)
class FourEyes(Condition):
    """The person acting is not the one who fired ``trigger`` in this round.

    The transition that sent the plan to its state counts, whatever drafts came since (who
    submitted for approval may not approve), as do the actions of the round (who remarked
    may not clear).
    """

    trigger: str
    name: ClassVar[str] = "four_eyes"
    params: ClassVar[Mapping[str, bool]] = {"trigger": True}
    needs: ClassVar[frozenset[str]] = frozenset({ROUND_ACTIONS, ENTERED})

    def failure(self, facts: PlanFacts) -> str | None:
        """Refuse the person who fired the trigger in this round."""
        if facts.actor is None or facts.actor not in facts.fired(self.trigger):
            return None
        return _("%(actor)s did %(trigger)s in this round, and a second person must do this") % {
            "actor": facts.actor,
            "trigger": self.trigger,
        }

    def explain(self, facts: PlanFacts, words: Words) -> str | None:
        """Say that someone else must do it."""
        if self.failure(facts) is None:
            return None
        return _('you did "%(action)s" in this round: someone else must do this') % {
            "action": words.action_title(self.trigger)
        }

    def describe(self) -> str:
        """Describe the condition."""
        return f"not by who did {self.trigger} this round"

    def holds(self, words: Words) -> str:
        """Say that the person did not do the action in this round."""
        return _('you did not do "%(action)s" in this round') % {
            "action": words.action_title(self.trigger)
        }


@dataclass(frozen=True)
class DeadlinePending(Condition):
    """The plan has a deadline of kind ``kind`` still open (neither met nor cancelled)."""

    kind: str
    name: ClassVar[str] = "deadline_pending"
    params: ClassVar[Mapping[str, bool]] = {"kind": True}
    needs: ClassVar[frozenset[str]] = frozenset({PENDING_DEADLINES})

    def failure(self, facts: PlanFacts) -> str | None:
        """Refuse while no deadline of the kind is open."""
        if self.kind in facts.pending_deadlines:
            return None
        return _("%(key)s has no open deadline of kind %(kind)s") % {
            "key": facts.key,
            "kind": self.kind,
        }

    def explain(self, facts: PlanFacts, words: Words) -> str | None:
        """Say which deadline is not open."""
        if self.kind in facts.pending_deadlines:
            return None
        return _('the deadline "%(title)s" is not open') % {
            "title": words.deadline_title(self.kind)
        }

    def describe(self) -> str:
        """Describe the condition."""
        return f"a {self.kind} deadline is open"

    def holds(self, words: Words) -> str:
        """Say that the deadline is open."""
        return _('the deadline "%(title)s" is open') % {"title": words.deadline_title(self.kind)}


@dataclass(frozen=True)
class AllOf(Condition):
    """Every one of ``conditions`` holds."""

    conditions: tuple[Condition, ...]
    name: ClassVar[str] = "all_of"

    @property
    def needs(self) -> frozenset[str]:  # type: ignore[override]
        """Return the facts any of the conditions read."""
        return frozenset().union(*(c.needs for c in self.conditions))

    def failure(self, facts: PlanFacts) -> str | None:
        """Refuse with the reasons of every condition that does not hold."""
        reasons = [r for c in self.conditions if (r := c.failure(facts)) is not None]
        return "; ".join(reasons) if reasons else None

    def explain(self, facts: PlanFacts, words: Words) -> str | None:
        """Say, for people, each condition that does not hold."""
        reasons = [r for c in self.conditions if (r := c.explain(facts, words)) is not None]
        return "; ".join(reasons) if reasons else None

    def describe(self) -> str:
        """Describe the condition."""
        return "all of (" + "; ".join(c.describe() for c in self.conditions) + ")"

    def holds(self, words: Words) -> str:
        """Say what is so when every condition holds."""
        return format_list([c.holds(words) for c in self.conditions])


@dataclass(frozen=True)
class AnyOf(Condition):
    """At least one of ``conditions`` holds."""

    conditions: tuple[Condition, ...]
    name: ClassVar[str] = "any_of"

    @property
    def needs(self) -> frozenset[str]:  # type: ignore[override]
        """Return the facts any of the conditions read."""
        return frozenset().union(*(c.needs for c in self.conditions))

    def failure(self, facts: PlanFacts) -> str | None:
        """Refuse when none holds, with each one's reason."""
        reasons = []
        for condition in self.conditions:
            reason = condition.failure(facts)
            if reason is None:
                return None
            reasons.append(reason)
        return _("none of these holds: %(reasons)s") % {"reasons": "; ".join(reasons)}

    def explain(self, facts: PlanFacts, words: Words) -> str | None:
        """Say, for people, what would open the action: any one of the conditions."""
        if self.failure(facts) is None:
            return None
        return _("this needs one of: %(conditions)s") % {
            "conditions": format_list([c.holds(words) for c in self.conditions], style="or")
        }

    def describe(self) -> str:
        """Describe the condition."""
        return "any of (" + "; ".join(c.describe() for c in self.conditions) + ")"

    def holds(self, words: Words) -> str:
        """Say what is so when one of the conditions holds."""
        return format_list([c.holds(words) for c in self.conditions], style="or")


@dataclass(frozen=True)
class Not(Condition):
    """``condition`` does not hold."""

    condition: Condition
    name: ClassVar[str] = "not"

    @property
    def needs(self) -> frozenset[str]:  # type: ignore[override]
        """Return the facts the condition reads."""
        return self.condition.needs

    def failure(self, facts: PlanFacts) -> str | None:
        """Refuse while the condition holds."""
        if facts.listing and isinstance(self.condition, CommentRequired):
            return None  # the comment is not known yet
        if self.condition.failure(facts) is not None:
            return None
        return _("it is not allowed while %(condition)s") % {"condition": self.condition.describe()}

    def explain(self, facts: PlanFacts, words: Words) -> str | None:
        """Say, for people, what closes the action."""
        if self.failure(facts) is None:
            return None
        return _("this is not open while %(condition)s") % {
            "condition": self.condition.holds(words)
        }

    def describe(self) -> str:
        """Describe the condition."""
        return f"not ({self.condition.describe()})"

    def holds(self, words: Words) -> str:
        """Say, for people, that the condition does not hold."""
        return _("it is not so that %(condition)s") % {"condition": self.condition.holds(words)}


def _build_simple(cls: type[Condition]) -> Callable[[dict[str, Any], LoadScope], Condition]:
    def build(_params: dict[str, Any], _scope: LoadScope) -> Condition:
        return cls()

    return build


def _check_role(value: Any, scope: LoadScope) -> str:
    if not isinstance(value, str) or value not in scope.roles:
        raise ValueError(f"unknown role {value!r} (roles: {', '.join(sorted(scope.roles))})")
    return value


def _build_role_assigned(params: dict[str, Any], scope: LoadScope) -> Condition:
    return RoleAssigned(role=_check_role(params["role"], scope))


def _build_quorum(params: dict[str, Any], scope: LoadScope) -> Condition:
    role = _check_role(params["role"], scope)
    trigger = params.get("trigger", "endorse")
    if not isinstance(trigger, str) or trigger not in scope.triggers:
        raise ValueError(
            f"unknown trigger {trigger!r} (triggers: {', '.join(sorted(scope.triggers))})"
        )
    minimum = params.get("min", "all")
    valid = (
        minimum == "all"
        or (isinstance(minimum, int) and not isinstance(minimum, bool) and minimum >= 1)
        or _fraction(minimum)
    )
    if not valid:
        raise ValueError(
            f'min must be "all", a whole number >= 1 or a fraction of the holders such as '
            f'"2/3", not {minimum!r}'
        )
    return Quorum(role=role, trigger=trigger, min=minimum)


def _fraction(value: Any) -> bool:
    """Tell whether ``value`` is a fraction "N/D" with 0 < N <= D (of a role's holders)."""
    if not isinstance(value, str):
        return False
    top, slash, bottom = value.partition("/")
    if not (slash and top.isdigit() and bottom.isdigit() and top.isascii() and bottom.isascii()):
        return False
    return 0 < int(top) <= int(bottom)


def _build_four_eyes(params: dict[str, Any], scope: LoadScope) -> Condition:
    trigger = params["trigger"]
    if not isinstance(trigger, str) or trigger not in scope.triggers:
        raise ValueError(
            f"unknown trigger {trigger!r} (triggers: {', '.join(sorted(scope.triggers))})"
        )
    return FourEyes(trigger=trigger)


def _build_deadline_pending(params: dict[str, Any], scope: LoadScope) -> Condition:
    kind = params["kind"]
    if not isinstance(kind, str) or kind not in scope.deadlines:
        known = ", ".join(sorted(scope.deadlines)) or "none declared"
        raise ValueError(f"unknown deadline kind {kind!r} (kinds: {known})")
    return DeadlinePending(kind=kind)


#: the tables that combine conditions: their one key -> how
_COMBINED = ("all_of", "any_of", "not")


def _build_combined(spec: dict[str, Any], scope: LoadScope) -> Condition:
    """Build ``{ any_of = [...] }``, ``{ all_of = [...] }`` or ``{ not = ... }``."""
    if len(spec) != 1:
        raise ValueError(
            f"a table with {', '.join(sorted(k for k in spec if k in _COMBINED))} has that one "
            f'key only, e.g. {{ any_of = ["draft_present", "comment_required"] }}'
        )
    ((key, value),) = spec.items()
    if key == "not":
        return Not(build_condition(value, scope))
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError(f"{key} lists two conditions or more, not {value!r}")
    parts = tuple(build_condition(part, scope) for part in value)
    return AllOf(parts) if key == "all_of" else AnyOf(parts)


#: condition name -> (class, builder from validated parameters)
REGISTRY: dict[str, tuple[type[Condition], Callable[[dict[str, Any], LoadScope], Condition]]] = {
    CommentRequired.name: (CommentRequired, _build_simple(CommentRequired)),
    OncePerRound.name: (OncePerRound, _build_simple(OncePerRound)),
    DraftPresent.name: (DraftPresent, _build_simple(DraftPresent)),
    RoleAssigned.name: (RoleAssigned, _build_role_assigned),
    Quorum.name: (Quorum, _build_quorum),
    FourEyes.name: (FourEyes, _build_four_eyes),
    DeadlinePending.name: (DeadlinePending, _build_deadline_pending),
}


def build_condition(spec: Any, scope: LoadScope) -> Condition:
    """Build a condition from its file form (a name, or a table with ``name`` and params).

    Raises ValueError with a message naming what is wrong and what is accepted.
    """
    if isinstance(spec, str):
        spec = {"name": spec}
    if isinstance(spec, dict) and "name" not in spec and set(spec) & set(_COMBINED):
        return _build_combined(spec, scope)
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ValueError(
            "a condition is a name or a table with a name, e.g. "
            '"comment_required" or { name = "quorum", role = "wg_member" }, or combines '
            "others: { any_of = [...] }, { all_of = [...] }, { not = ... }"
        )
    name = spec["name"]
    entry = REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown condition {name!r} (known: {', '.join(sorted(REGISTRY))})")
    cls, build = entry
    params = {k: v for k, v in spec.items() if k != "name"}
    unknown = sorted(set(params) - set(cls.params))
    if unknown:
        accepted = ", ".join(sorted(cls.params)) or "none"
        raise ValueError(
            f"condition {name!r} has unknown parameter(s) {', '.join(unknown)} "
            f"(accepted: {accepted})"
        )
    missing = sorted(p for p, required in cls.params.items() if required and p not in params)
    if missing:
        raise ValueError(f"condition {name!r} needs parameter(s) {', '.join(missing)}")
    return build(params, scope)
