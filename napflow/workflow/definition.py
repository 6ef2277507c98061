"""Workflow definitions: load a workflow TOML file and validate it, reporting every problem.

A workflow file is data. It names its states, its roles and its transitions; conditions are
chosen by name from :mod:`napflow.workflow.conditions`. :func:`load_definition` either returns a
:class:`WorkflowDefinition` or raises :class:`~napflow.errors.InvalidDefinition` listing every
problem at once, each prefixed with the file and the key it concerns.
"""

from __future__ import annotations

import functools
import hashlib
import tomllib
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, cast

from napflow.errors import InvalidDefinition
from napflow.inputs import printable
from napflow.workflow.conditions import Condition, LoadScope, build_condition
from napflow.workflow.deadline_kinds import DeadlineKindDef, NoticeDef, load_deadlines, load_notices
from napflow.workflow.drafts import DraftRules, load_drafts
from napflow.workflow.facts import PlanFacts
from napflow.workflow.mail import MailDef, load_mail
from napflow.workflow.titles import Titled, Titles, coverage, load_titles
from napflow.workflow.toml_checks import Problems, name_ok, str_list, unknown_keys

ANY_STATE = "*"

# Names the engine itself uses on a plan model (transitions binds triggers, may_<t>, to_<s>
# and is_<s> to models; PlanFacts holds the facts): a trigger may not take one of them.
RESERVED_TRIGGERS = frozenset(
    {"trigger", "state", "machine", "model", "may", "to", "is"}
    | {f.name for f in fields(PlanFacts)}
    | {n for n in dir(PlanFacts) if not n.startswith("_")}
)
RESERVED_PREFIXES = ("may_", "to_", "is_", "on_enter_", "on_exit_")

_WORKFLOW_KEYS = {
    "contacts",
    "name",
    "version",
    "title",
    "description",
    "initial",
    "reminder_hour",
    "manage_roles",
    "manage_deadlines",
    "titles",
}
_STATE_KEYS = {"title", "titles", "description", "final"}
_TRANSITION_KEYS = {
    "trigger",
    "source",
    "dest",
    "stay",
    "roles",
    "conditions",
    "title",
    "titles",
    "after_days",
    "on_missed",
}
_ROLE_KEYS = {"title", "titles", "description"}


@dataclass(frozen=True)
class StateDef(Titled):
    """A state of a workflow."""

    name: str
    title: str
    final: bool = False
    titles: Titles = ()


@dataclass(frozen=True)
class TransitionDef(Titled):
    """One transition: ``trigger`` fired in one of ``sources`` by one of ``roles``.

    ``dest`` is None for an action that leaves the plan where it is (an endorsement). A
    timer transition has no roles: napflow fires it by itself, ``after_days`` days after
    the plan entered its source state (at the end of that day in the plan's zone), or
    when its deadline of kind ``on_missed`` is missed, if its conditions hold then.
    """

    trigger: str
    sources: tuple[str, ...]
    dest: str | None
    roles: tuple[str, ...]
    conditions: tuple[Condition, ...]
    title: str
    titles: Titles = ()
    after_days: int | None = None
    on_missed: str | None = None

    @property
    def stays(self) -> bool:
        """True if firing the trigger leaves the plan in its state."""
        return self.dest is None

    @property
    def timer(self) -> bool:
        """True if napflow fires it by itself, when its time comes (no one may)."""
        return self.after_days is not None or self.on_missed is not None


@dataclass(frozen=True)
class RoleDef(Titled):
    """A role's title (the role's name made readable unless the file gives one)."""

    name: str
    title: str
    titles: Titles = ()


@dataclass(frozen=True)
class WorkflowDefinition(Titled):
    """A validated workflow, as read from one file."""

    name: str
    version: int
    title: str
    description: str
    initial: str
    states: tuple[StateDef, ...]
    roles: tuple[tuple[str, str], ...]
    transitions: tuple[TransitionDef, ...]
    path: Path
    #: SHA-256 of the file's bytes, and the file's text (stored for each version used)
    digest: str
    deadlines: tuple[DeadlineKindDef, ...] = ()
    notices: tuple[NoticeDef, ...] = ()
    #: local hour (in the recipient's zone) at which reminders go out
    reminder_hour: int = 9
    #: the roles whose holders may grant and revoke roles on their plan (an administrator
    #: always may); none: only an administrator
    manage_roles: tuple[str, ...] = ()
    #: the roles whose holders may add, move and cancel their plan's deadlines (likewise)
    manage_deadlines: tuple[str, ...] = ()
    #: the roles whose holders mails name as the plan's contacts, the first held first
    #: (``[workflow] contacts``; None: not declared, then the coordinator and working-group
    #: chair roles, where the workflow has them, as napflow named them before the key)
    contacts: tuple[str, ...] | None = None
    #: who may add drafts of the plan's document, in which states, with what effect
    drafts: DraftRules = field(default_factory=DraftRules)
    #: the workflow's title in other languages
    titles: Titles = ()
    #: each role's title (``roles`` holds their descriptions)
    role_titles: tuple[RoleDef, ...] = ()
    #: the workflow's own mail templates and signature
    mail: MailDef = field(default_factory=MailDef)
    source: str = field(default="", repr=False, compare=False)

    @property
    def contact_roles(self) -> tuple[str, ...]:
        """Return the roles whose holders mails name as the plan's contacts."""
        if self.contacts is not None:
            return self.contacts
        return tuple(r for r in ("coordinator", "wg_chair") if r in self.role_names)

    def role_title(self, name: str, locale: str | None = None) -> str:
        """Return the title of role ``name`` in ``locale`` (default: the reader's)."""
        for role in self.role_titles:
            if role.name == name:
                return role.title_in(locale)
        return name.replace("_", " ").capitalize()

    def untranslated_titles(self) -> dict[str, list[str]]:
        """Return, for each locale the file translates titles to, the titles it misses."""
        items: list[tuple[str, Titles]] = [("workflow.title", self.titles)]
        items += [(f"roles.{r.name}.title", r.titles) for r in self.role_titles]
        items += [(f"states.{s.name}.title", s.titles) for s in self.states]
        items += [
            (f"transitions[{i}].title ({t.trigger})", t.titles)
            for i, t in enumerate(self.transitions)
        ]
        items += [(f"deadlines.{k.name}.title", k.titles) for k in self.deadlines]
        return coverage(items)

    @property
    def state_names(self) -> tuple[str, ...]:
        """State names in file order."""
        return tuple(s.name for s in self.states)

    @property
    def role_names(self) -> tuple[str, ...]:
        """Role names in file order."""
        return tuple(r for r, _ in self.roles)

    @functools.cached_property
    def triggers(self) -> tuple[str, ...]:
        """Distinct trigger names in file order."""
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))

    def state(self, name: str) -> StateDef:
        """Return the state called ``name``."""
        for s in self.states:
            if s.name == name:
                return s
        raise KeyError(name)

    def state_title(self, name: str) -> str:
        """Return the title of state ``name``, or say that this workflow has no such state.

        A plan row changed outside napflow can hold one; `napflow audit verify` names it.
        """
        try:
            return self.state(name).title_in()
        except KeyError:
            return f"not a state of workflow {self.name}"

    def deadline_kind(self, name: str) -> DeadlineKindDef | None:
        """Return the deadline kind called ``name``, or None."""
        return next((k for k in self.deadlines if k.name == name), None)

    def deadline_title(self, kind: str, title: str) -> str:
        """Return a deadline's title as shown: its kind's own, translated; one given as written."""
        found = self.deadline_kind(kind)
        return found.title_in() if found is not None and title == found.title else title

    def action_title(self, trigger: str | None, state: str) -> str:
        """Return the title of ``trigger`` fired in ``state``, in the reader's language.

        One trigger may have a title per state (the NAP's two "endorse"s). A trigger the
        workflow no longer has is named by its words, not its id.
        """
        found = self.transition_for(state, trigger or "") or next(
            (t for t in self.transitions if t.trigger == trigger), None
        )
        return found.title_in() if found else str(trigger or "").replace("_", " ")

    def is_final(self, state: str) -> bool:
        """Tell whether ``state`` is final (has no way out)."""
        return self.state(state).final

    def transition_for(self, state: str, trigger: str) -> TransitionDef | None:
        """Return the transition ``trigger`` fires from ``state``, or None."""
        for t in self.transitions:
            if t.trigger == trigger and state in t.sources:
                return t
        return None

    def transitions_from(self, state: str) -> list[TransitionDef]:
        """Return the transitions that can fire from ``state``, in file order."""
        return [t for t in self.transitions if state in t.sources]

    @functools.cached_property
    def depths(self) -> dict[str, int]:
        """Return each state's distance from the initial one (fewest transitions)."""
        depth = {self.initial: 0}
        frontier = [self.initial]
        while frontier:
            following = []
            for state in frontier:
                for transition in self.transitions_from(state):
                    if transition.dest is not None and transition.dest not in depth:
                        depth[transition.dest] = depth[state] + 1
                        following.append(transition.dest)
            frontier = following
        return depth

    def is_way_out(self, state: str, trigger: str) -> bool:
        """Tell whether ``trigger`` is offered in every open state (``source = "*"``).

        Such an action (the NAP's withdrawal) ends or diverts the procedure; it is not the
        work a state waits for.
        """
        found = self.transition_for(state, trigger)
        open_states = {s.name for s in self.states if not s.final}
        return found is not None and len(open_states) > 1 and set(found.sources) == open_states

    def is_return(self, state: str, trigger: str) -> bool:
        """Tell whether ``trigger`` sends the plan from ``state`` back nearer the start."""
        found = self.transition_for(state, trigger)
        if found is None or found.dest is None:
            return False
        depth = self.depths
        return depth.get(found.dest, 0) < depth.get(state, 0)

    def is_destructive(self, state: str, trigger: str) -> bool:
        """Tell whether ``trigger`` undoes work: a way out of the procedure, or a return.

        People confirm such an action on a second page that says what it will do.
        """
        return self.is_way_out(state, trigger) or self.is_return(state, trigger)


def _load_header(data: dict[str, Any], problems: Problems) -> dict[str, Any]:
    head = data.get("workflow")
    if not isinstance(head, dict):
        problems.add("workflow", "missing [workflow] table with name, version and initial")
        return {}
    unknown_keys(problems, "workflow", head, _WORKFLOW_KEYS)
    if not name_ok(head.get("name")):
        problems.add(
            "workflow.name",
            f"must be a lower-case identifier such as 'nap', not {head.get('name')!r}",
        )
    elif head["name"] != problems.path.stem:
        problems.add(
            "workflow.name",
            f"{head['name']!r} must match the file name ({problems.path.stem!r})",
        )
    version = head.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.add("workflow.version", f"must be a whole number >= 1, not {version!r}")
    return head


def _load_states(data: dict[str, Any], problems: Problems) -> list[StateDef]:
    table = data.get("states")
    if not isinstance(table, dict) or not table:
        problems.add("states", "missing [states.<name>] tables; a workflow needs states")
        return []
    states = []
    for name, spec in table.items():
        where = f"states.{name}"
        if not name_ok(name):
            problems.add(where, "a state name must be a lower-case identifier")
            continue
        if not isinstance(spec, dict):
            problems.add(where, "must be a table, e.g. [states.drafting]")
            continue
        unknown_keys(problems, where, spec, _STATE_KEYS)
        final = spec.get("final", False)
        if not isinstance(final, bool):
            problems.add(f"{where}.final", f"must be true or false, not {final!r}")
            final = False
        title = spec.get("title", name.replace("_", " ").capitalize())
        titles = load_titles(spec, where, problems)
        states.append(StateDef(name=name, title=str(title), final=final, titles=titles))
    return states


#: the role an administrator's changes are recorded with: no workflow may name a role so
RESERVED_ROLE = "admin"


def _load_roles(
    data: dict[str, Any], problems: Problems
) -> tuple[list[tuple[str, str]], list[RoleDef]]:
    """Return each role's (name, description) and title.

    A role is a description string (``coordinator = "..."``) or a table with a title, its
    translations and a description (``[roles.coordinator]``).
    """
    table = data.get("roles")
    if not isinstance(table, dict) or not table:
        problems.add("roles", "missing [roles] table naming who takes part")
        return [], []
    roles = []
    titled = []
    for name, text in table.items():
        title, titles = name.replace("_", " ").capitalize(), cast(Titles, ())
        if isinstance(text, dict):
            unknown_keys(problems, f"roles.{name}", text, _ROLE_KEYS)
            title = str(text.get("title", title))
            titles = load_titles(text, f"roles.{name}", problems)
            text = text.get("description", "")
        if not name_ok(name):
            problems.add(f"roles.{name}", "a role name must be a lower-case identifier")
        elif name == RESERVED_ROLE:
            problems.add(
                f"roles.{name}",
                "'admin' is napflow's own (an administrator's changes are recorded as admin); "
                "name the role otherwise",
            )
        elif not isinstance(text, str):
            problems.add(
                f"roles.{name}",
                "must be a short description string, or a table with title and description",
            )
        else:
            roles.append((name, text))
            titled.append(RoleDef(name, title, titles))
    return roles, titled


def _check_trigger_name(trigger: Any, where: str, problems: Problems) -> bool:
    if not name_ok(trigger):
        problems.add(f"{where}.trigger", f"must be a lower-case identifier, not {trigger!r}")
        return False
    if trigger in RESERVED_TRIGGERS or trigger.startswith(RESERVED_PREFIXES):
        problems.add(
            f"{where}.trigger",
            f"{trigger!r} clashes with a name the engine uses; reserved: "
            f"{', '.join(sorted(RESERVED_TRIGGERS))} and names starting with "
            f"{', '.join(RESERVED_PREFIXES)}",
        )
        return False
    return True


def _load_transitions(
    data: dict[str, Any],
    problems: Problems,
    states: dict[str, StateDef],
    roles: set[str],
) -> list[TransitionDef]:
    specs = data.get("transitions")
    if not isinstance(specs, list) or not specs:
        problems.add("transitions", "missing [[transitions]] entries")
        return []
    triggers = frozenset(
        s["trigger"] for s in specs if isinstance(s, dict) and isinstance(s.get("trigger"), str)
    )
    kinds = data.get("deadlines")
    scope = LoadScope(
        roles=frozenset(roles),
        triggers=triggers,
        deadlines=frozenset(kinds) if isinstance(kinds, dict) else frozenset(),
    )
    non_final = tuple(n for n, s in states.items() if not s.final)
    result = []
    for i, spec in enumerate(specs):
        where = f"transitions[{i}]"
        if not isinstance(spec, dict):
            problems.add(where, "must be a table")
            continue
        before = len(problems.items)
        unknown_keys(problems, where, spec, _TRANSITION_KEYS)
        trigger = spec.get("trigger")
        if _check_trigger_name(trigger, where, problems):
            where = f"{where} ({trigger})"
        sources = str_list(spec.get("source"))
        if sources is None:
            problems.add(f"{where}.source", 'must be a state, a list of states, or "*"')
            sources = []
        elif sources == [ANY_STATE]:
            sources = list(non_final)
        for src in sources:
            if src not in states:
                problems.unknown(f"{where}.source", "state", src, states)
            elif states[src].final:
                problems.add(f"{where}.source", f"{src!r} is final: a final state has no way out")
        dest = spec.get("dest")
        stay = spec.get("stay", False)
        if stay is True and dest is not None:
            problems.add(where, "give either dest or stay = true, not both")
        elif stay is not True and dest is None:
            problems.add(f"{where}.dest", 'missing: give dest = "<state>" or stay = true')
        elif dest is not None and not isinstance(dest, str):
            problems.add(f"{where}.dest", f"unknown state {dest!r}")
        elif dest is not None and dest not in states:
            problems.unknown(f"{where}.dest", "state", dest, states)
        if stay not in (True, False):
            problems.add(f"{where}.stay", f"must be true or false, not {stay!r}")
        after_days, on_missed = _load_timer(spec, where, problems, scope, stay is True)
        timed = after_days is not None or on_missed is not None
        who: list[str] | None = [] if timed and "roles" not in spec else None
        if who is None:
            who = str_list(spec.get("roles"))
        if timed and who:
            problems.add(
                f"{where}.roles", "a timer transition is fired by napflow itself: give no roles"
            )
        elif who is None:
            problems.add(f"{where}.roles", "must list the roles that may fire it")
            who = []
        for role in who:
            if role not in roles:
                problems.add(
                    f"{where}.roles", f"unknown role {role!r} (roles: {', '.join(sorted(roles))})"
                )
        conditions = []
        raw_conditions = spec.get("conditions", [])
        if not isinstance(raw_conditions, list):
            problems.add(f"{where}.conditions", "must be a list")
            raw_conditions = []
        for j, cond in enumerate(raw_conditions):
            try:
                conditions.append(build_condition(cond, scope))
            except ValueError as exc:
                problems.add(f"{where}.conditions[{j}]", str(exc))
        # a transition whose only fault is naming an undeclared state is kept for the checks
        # that follow (its trigger for notices, its arcs for reachability): one mistake, one
        # message, not a cascade of "unknown trigger" and "unreachable"
        if len(problems.items) == before:
            result.append(
                TransitionDef(
                    trigger=str(trigger),
                    sources=tuple(sources),
                    dest=None if stay is True else dest,
                    roles=tuple(who),
                    conditions=tuple(conditions),
                    title=str(spec.get("title", str(trigger).replace("_", " "))),
                    titles=load_titles(spec, where, problems),
                    after_days=after_days,
                    on_missed=on_missed,
                )
            )
    return result


def _load_timer(
    spec: dict[str, Any], where: str, problems: Problems, scope: LoadScope, stays: bool
) -> tuple[int | None, str | None]:
    """Return a transition's ``after_days`` and ``on_missed`` (None, None: not a timer)."""
    after_days, on_missed = spec.get("after_days"), spec.get("on_missed")
    if after_days is None and on_missed is None:
        return None, None
    if after_days is not None and on_missed is not None:
        problems.add(where, "give either after_days or on_missed, not both")
        return None, None
    if stays:
        problems.add(where, "a timer transition moves the plan: give dest, not stay = true")
    if after_days is not None and (
        isinstance(after_days, bool) or not isinstance(after_days, int) or after_days < 0
    ):
        problems.add(
            f"{where}.after_days", f"must be a whole number of days >= 0, not {after_days!r}"
        )
        return None, None
    if on_missed is not None and (
        not isinstance(on_missed, str) or on_missed not in scope.deadlines
    ):
        known = ", ".join(sorted(scope.deadlines)) or "none declared"
        problems.add(f"{where}.on_missed", f"unknown deadline kind {on_missed!r} (kinds: {known})")
        return None, None
    return after_days, on_missed


def _check_graph(
    problems: Problems,
    initial: str,
    states: dict[str, StateDef],
    transitions: Iterable[TransitionDef],
) -> None:
    seen: dict[tuple[str, str], int] = {}
    # undeclared states (reported once already) are nodes too: arcs through them count
    exits: dict[str, set[str]] = defaultdict(set)
    for i, t in enumerate(transitions):
        for src in t.sources:
            if (src, t.trigger) in seen:
                problems.add(
                    f"transitions ({t.trigger})",
                    f"trigger {t.trigger!r} is defined twice from state {src!r}",
                )
            seen[(src, t.trigger)] = i
            if t.dest is not None and t.dest != src:
                exits[src].add(t.dest)
    if not any(s.final for s in states.values()):
        problems.add("states", "no final state: mark at least one with final = true")
    for name, state in states.items():
        if not state.final and not exits[name]:
            problems.add(f"states.{name}", "non-final state with no way out")
    if initial not in states:
        return
    reached = {initial}
    queue = deque([initial])
    while queue:
        for nxt in exits[queue.popleft()]:
            if nxt not in reached:
                reached.add(nxt)
                queue.append(nxt)
    for name in states:
        if name not in reached:
            problems.add(f"states.{name}", f"unreachable from the initial state {initial!r}")


def parse_definition(raw: bytes, path: Path, stored: bool = False) -> WorkflowDefinition:
    """Validate the bytes of a workflow file; ``path`` names it in messages.

    ``stored``: the text of a version kept in the database, read from ``path`` once; its
    mail templates are looked for next to that file, and napflow's defaults serve if the
    folder is gone.
    """
    problems = Problems(path)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidDefinition([f"{path.name}: not UTF-8 text ({exc.reason})"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidDefinition([f"{path.name}: not valid TOML: {exc}"]) from exc
    unknown_keys(
        problems,
        "",
        data,
        {"workflow", "states", "roles", "transitions", "deadlines", "notices", "drafts", "mail"},
    )
    head = _load_header(data, problems)
    state_list = _load_states(data, problems)
    states = {s.name: s for s in state_list}
    roles, role_titles = _load_roles(data, problems)
    transitions = _load_transitions(data, problems, states, {r for r, _ in roles})
    initial = head.get("initial")
    if not isinstance(initial, str) or initial not in states:
        problems.add("workflow.initial", f"must name one of the states, not {initial!r}")
    elif states[initial].final:
        problems.add("workflow.initial", f"{initial!r} is final; the initial state cannot be")
    if state_list:
        _check_graph(problems, str(initial), states, transitions)
    role_names = {r for r, _ in roles}
    triggers = {t.trigger for t in transitions}
    finals = {s.name for s in state_list if s.final}
    deadlines = load_deadlines(data, problems, set(states), finals, role_names, triggers)
    notices = load_notices(data, problems, role_names, triggers)
    manage_roles = _managing_roles(head, "manage_roles", problems, role_names)
    manage_deadlines = _managing_roles(head, "manage_deadlines", problems, role_names)
    contacts = (
        _managing_roles(head, "contacts", problems, role_names) if "contacts" in head else None
    )
    drafts = load_drafts(data, problems, set(states), finals, role_names)
    hour = head.get("reminder_hour", 9)
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        problems.add("workflow.reminder_hour", f"must be a whole hour 0-23, not {hour!r}")
    titles = load_titles(head, "workflow", problems)
    mail = load_mail(data, problems, path, missing_ok=stored)
    if problems.finish():
        raise InvalidDefinition(problems.items)
    return WorkflowDefinition(
        name=head["name"],
        version=head["version"],
        title=str(head.get("title", head["name"])),
        description=str(head.get("description", "")),
        initial=str(initial),
        states=tuple(state_list),
        roles=tuple(roles),
        transitions=tuple(transitions),
        path=path,
        digest=hashlib.sha256(raw).hexdigest(),
        source=raw.decode("utf-8"),
        deadlines=deadlines,
        notices=notices,
        reminder_hour=hour,
        manage_roles=manage_roles,
        manage_deadlines=manage_deadlines,
        contacts=contacts,
        drafts=drafts,
        titles=titles,
        role_titles=tuple(role_titles),
        mail=mail,
    )


def _managing_roles(
    head: dict[str, Any], key: str, problems: Problems, roles: set[str]
) -> tuple[str, ...]:
    """Return ``[workflow] <key>``: roles of this workflow that may manage (none if not given)."""
    value = head.get(key, [])
    listed = str_list(value) if value != [] else []
    if listed is None:
        problems.add(f"workflow.{key}", f'must list roles, e.g. ["coordinator"], not {value!r}')
        return ()
    for role in listed:
        if role not in roles:
            problems.add(
                f"workflow.{key}",
                f"unknown role {role!r} (roles: {', '.join(sorted(roles)) or 'none'})",
            )
    return tuple(dict.fromkeys(listed))


def load_definition(path: Path) -> WorkflowDefinition:
    """Read and validate the workflow file at ``path``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidDefinition(
            [f"{printable(str(path))}: cannot be read ({exc.strerror})"]
        ) from exc
    return parse_definition(raw, path)
