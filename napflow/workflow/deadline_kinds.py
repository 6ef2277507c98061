"""Deadline kinds, reminder ladders, escalations and transition notices in a workflow file.

A workflow file declares, as data::

    [deadlines.approval]
    title = "Ministerial approval"
    type = "date"                      # date | event | relative
    met_by_state = "approved"          # met when the plan enters this state
    reminders = [{ days_before = [30, 14, 7, 1], to = ["coordinator", "approver"] }]
    escalation = { every_days = 7, to = ["coordinator", "wg_chair"], urgent = true }
    reminder_hour = 8                  # its own local hour (else [workflow] reminder_hour)

    [deadlines.review_window]
    type = "relative"                  # created when the plan enters start_on_entering,
    start_on_entering = "working_group_review"   # due `days` later, met by leaving it
    days = 30
    reminders = [{ days_before = [7, 1], to = ["wg_member"], unless_done = "endorse" }]

    [[notices]]
    on = ["approve"]
    to = ["coordinator", "wg_chair"]
    urgent = true

``urgent`` messages go at once even to people who chose a daily digest.
``unless_done`` limits a rung to the role holders who have not fired that trigger in the
current round (the working-group members who have not endorsed yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from napflow.workflow.titles import Titled, Titles, load_titles
from napflow.workflow.toml_checks import Problems, name_ok, str_list, unknown_keys

DEADLINE_TYPES = ("date", "event", "relative")
_DEADLINE_KEYS = {
    "reminder_hour",
    "title",
    "titles",
    "type",
    "met_by_state",
    "start_on_entering",
    "days",
    "reminders",
    "escalation",
}
_RUNG_KEYS = {"days_before", "to", "unless_done"}
_ESCALATION_KEYS = {"every_days", "to", "urgent"}
_NOTICE_KEYS = {"on", "to", "urgent"}


@dataclass(frozen=True)
class RungDef:
    """One reminder: ``days_before`` the deadline, to the holders of roles ``to``."""

    days_before: int
    to: tuple[str, ...]
    unless_done: str | None = None

    @property
    def name(self) -> str:
        """The rung's name in outbox keys and messages."""
        return f"before-{self.days_before}d"


@dataclass(frozen=True)
class EscalationDef:
    """After a missed deadline: the morning after, then every ``every_days`` days."""

    every_days: int
    to: tuple[str, ...]
    #: sent at once even to people who chose a daily digest
    urgent: bool = False


@dataclass(frozen=True)
class DeadlineKindDef(Titled):
    """A kind of deadline a plan on this workflow can have."""

    name: str
    title: str
    type: str
    met_by_state: str | None = None
    start_on_entering: str | None = None
    days: int | None = None
    rungs: tuple[RungDef, ...] = ()
    escalation: EscalationDef | None = None
    titles: Titles = ()
    #: the local hour its reminders and escalations go at (None: the workflow's)
    reminder_hour: int | None = None

    def hour(self, default: int) -> int:
        """Return the local hour its messages go at: its own, else ``default``."""
        return default if self.reminder_hour is None else self.reminder_hour

    @property
    def relative(self) -> bool:
        """True if transitions create and end deadlines of this kind."""
        return self.type == "relative"


@dataclass(frozen=True)
class NoticeDef:
    """Who hears of a transition: holders of roles ``to`` when one of ``triggers`` fires."""

    triggers: tuple[str, ...]
    to: tuple[str, ...]
    #: sent at once even to people who chose a daily digest
    urgent: bool = False


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _roles(problems: Problems, where: str, value: Any, roles: set[str]) -> tuple[str, ...]:
    found = str_list(value)
    if found is None:
        problems.add(where, 'must list roles, e.g. ["coordinator"]')
        return ()
    for role in found:
        if role not in roles:
            problems.add(where, f"unknown role {role!r} (roles: {', '.join(sorted(roles))})")
    return tuple(found)


def _rungs(
    problems: Problems, where: str, value: Any, roles: set[str], triggers: set[str]
) -> tuple[RungDef, ...]:
    if not isinstance(value, list):
        problems.add(where, "must be a list of { days_before = [...], to = [...] }")
        return ()
    rungs: list[RungDef] = []
    for i, spec in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(spec, dict):
            problems.add(at, "must be a table { days_before = [...], to = [...] }")
            continue
        unknown_keys(problems, at, spec, _RUNG_KEYS)
        days = spec.get("days_before")
        days = [days] if isinstance(days, int) and not isinstance(days, bool) else days
        if not isinstance(days, list) or not days or not all(_positive(d) for d in days):
            problems.add(f"{at}.days_before", "must be a list of whole numbers >= 1")
            days = []
        to = _roles(problems, f"{at}.to", spec.get("to"), roles)
        unless = spec.get("unless_done")
        if unless is not None and unless not in triggers:
            problems.add(f"{at}.unless_done", f"unknown trigger {unless!r}")
        rungs.extend(RungDef(d, to, unless) for d in days)
    seen: set[tuple[int, tuple[str, ...]]] = set()
    for rung in rungs:
        if (rung.days_before, rung.to) in seen:
            problems.add(where, f"{rung.days_before} days before is listed twice")
        seen.add((rung.days_before, rung.to))
    return tuple(sorted(rungs, key=lambda r: -r.days_before))


def _escalation(
    problems: Problems, where: str, value: Any, roles: set[str]
) -> EscalationDef | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(where, "must be a table { every_days = N, to = [...] }")
        return None
    unknown_keys(problems, where, value, _ESCALATION_KEYS)
    every: Any = value.get("every_days")
    if not _positive(every):
        problems.add(f"{where}.every_days", f"must be a whole number >= 1, not {every!r}")
        every = 1
    roles_to = _roles(problems, f"{where}.to", value.get("to"), roles)
    return EscalationDef(every, roles_to, _urgent(problems, where, value))


def _urgent(problems: Problems, where: str, spec: dict[str, Any]) -> bool:
    value = spec.get("urgent", False)
    if not isinstance(value, bool):
        problems.add(f"{where}.urgent", f"must be true or false, not {value!r}")
        return False
    return value


def load_deadlines(
    data: dict[str, Any],
    problems: Problems,
    states: set[str],
    finals: set[str],
    roles: set[str],
    triggers: set[str],
) -> tuple[DeadlineKindDef, ...]:
    """Validate the ``[deadlines.<kind>]`` tables of a workflow file."""
    table = data.get("deadlines", {})
    if not isinstance(table, dict):
        problems.add("deadlines", "must be tables [deadlines.<kind>]")
        return ()
    kinds = []
    for name, spec in table.items():
        where = f"deadlines.{name}"
        if not name_ok(name) or not isinstance(spec, dict):
            problems.add(where, "must be a table named by a lower-case identifier")
            continue
        unknown_keys(problems, where, spec, _DEADLINE_KEYS)
        kind = spec.get("type")
        if kind not in DEADLINE_TYPES:
            problems.add(f"{where}.type", f"must be one of {', '.join(DEADLINE_TYPES)}")
        met = spec.get("met_by_state")
        if met is not None and not isinstance(met, str):
            problems.add(f"{where}.met_by_state", f"unknown state {met!r}")
        elif met is not None and met not in states:
            problems.unknown(f"{where}.met_by_state", "state", met, states)
        start = spec.get("start_on_entering")
        days = spec.get("days")
        if kind == "relative":
            if isinstance(start, str) and name_ok(start) and start not in states:
                problems.unknown(f"{where}.start_on_entering", "state", start, states)
            elif not isinstance(start, str) or start not in states or start in finals:
                problems.add(f"{where}.start_on_entering", "must name a non-final state")
            if not _positive(days):
                problems.add(f"{where}.days", "must be a whole number >= 1")
        elif start is not None or days is not None:
            problems.add(where, 'start_on_entering and days belong to type = "relative"')
        hour = spec.get("reminder_hour")
        if hour is not None and (
            isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23
        ):
            problems.add(f"{where}.reminder_hour", f"must be a whole hour 0-23, not {hour!r}")
            hour = None
        kinds.append(
            DeadlineKindDef(
                name=name,
                title=str(spec.get("title", name.replace("_", " ").capitalize())),
                type=str(kind),
                met_by_state=met,
                start_on_entering=start if kind == "relative" else None,
                days=days if kind == "relative" else None,
                rungs=_rungs(
                    problems, f"{where}.reminders", spec.get("reminders", []), roles, triggers
                ),
                escalation=_escalation(
                    problems, f"{where}.escalation", spec.get("escalation"), roles
                ),
                titles=load_titles(spec, where, problems),
                reminder_hour=hour,
            )
        )
    return tuple(kinds)


def load_notices(
    data: dict[str, Any], problems: Problems, roles: set[str], triggers: set[str]
) -> tuple[NoticeDef, ...]:
    """Validate the ``[[notices]]`` entries of a workflow file."""
    specs = data.get("notices", [])
    if not isinstance(specs, list):
        problems.add("notices", "must be [[notices]] entries")
        return ()
    notices = []
    for i, spec in enumerate(specs):
        where = f"notices[{i}]"
        if not isinstance(spec, dict):
            problems.add(where, "must be a table with on and to")
            continue
        unknown_keys(problems, where, spec, _NOTICE_KEYS)
        on = str_list(spec.get("on"))
        if on is None:
            problems.add(f"{where}.on", "must list triggers")
            on = []
        for trigger in on:
            if trigger not in triggers:
                problems.add(f"{where}.on", f"unknown trigger {trigger!r}")
        to = _roles(problems, f"{where}.to", spec.get("to"), roles)
        notices.append(NoticeDef(tuple(on), to, _urgent(problems, where, spec)))
    return tuple(notices)
