"""The registry of conditions a workflow file can name.

A workflow file chooses conditions by name, with parameters, for example::

    conditions = ["comment_required", { name = "quorum", role = "wg_member", min = "all" }]

Each condition is pure: it reads :class:`~napflow.workflow.facts.PlanFacts` and returns None when
it holds, or a sentence saying what is missing. Adding a condition type here makes it
available to every workflow file; the files themselves never contain code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from napflow.i18n import _, format_list, ngettext
from napflow.workflow.facts import HOLDERS, ROUND_ACTIONS, PlanFacts


@dataclass(frozen=True)
class LoadScope:
    """What a condition's parameters may refer to in the workflow being loaded."""

    roles: frozenset[str]
    triggers: frozenset[str]


class Words(Protocol):
    """How a condition names things to people: titles and names, not ids and addresses."""

    def role_title(self, role: str) -> str:
        """Return the title of ``role`` in the reader's language."""

    def action_title(self, trigger: str) -> str:
        """Return the title of ``trigger`` in the plan's current state."""

    def names(self, emails: Iterable[str]) -> list[str]:
        """Return the people's names (their addresses where no name is known), sorted."""


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

    def needed(self, holders: int) -> int | str:
        """Return how many must act (``"all"`` for every holder), of ``holders`` now."""
        if isinstance(self.min, str) and "/" in self.min:
            top, _slash, bottom = self.min.partition("/")
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
        if isinstance(self.min, str) and "/" in self.min and not holders:
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
        if isinstance(self.min, str) and "/" in self.min:
            amount = f"at least {self.min} of the"
        return f"{amount} {self.role} did {self.trigger} this round"


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


#: condition name -> (class, builder from validated parameters)
REGISTRY: dict[str, tuple[type[Condition], Callable[[dict[str, Any], LoadScope], Condition]]] = {
    CommentRequired.name: (CommentRequired, _build_simple(CommentRequired)),
    OncePerRound.name: (OncePerRound, _build_simple(OncePerRound)),
    DraftPresent.name: (DraftPresent, _build_simple(DraftPresent)),
    RoleAssigned.name: (RoleAssigned, _build_role_assigned),
    Quorum.name: (Quorum, _build_quorum),
}


def build_condition(spec: Any, scope: LoadScope) -> Condition:
    """Build a condition from its file form (a name, or a table with ``name`` and params).

    Raises ValueError with a message naming what is wrong and what is accepted.
    """
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ValueError(
            "a condition is a name or a table with a name, e.g. "
            '"comment_required" or { name = "quorum", role = "wg_member" }'
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
