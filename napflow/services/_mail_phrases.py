"""The sentences of a mail that depend on the deadline and the workflow, in the reader's words.

Everything here runs inside ``use_locale(<the reader's language>)``: dates are Babel's,
titles the workflow file's translations, sentences the catalogue's. Nothing names a
trigger, state or role by its id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from napflow.i18n import (
    _,
    format_date,
    format_date_range,
    format_datetime,
    format_list,
    ngettext,
)
from napflow.workflow.deadline_kinds import DeadlineKindDef
from napflow.workflow.definition import WorkflowDefinition


def when(row: Any, event: bool) -> str:
    """Say when a deadline is, in its own zone: "Thursday, 31 December 2015, end of day (...)"."""
    days = format_date_range(row.due_on, row.ends_on or row.due_on)
    values = {"days": days, "time": row.at_time, "zone": row.timezone}
    if row.at_time:
        if event:
            return _("%(days)s, from %(time)s (%(zone)s)") % values
        return _("%(days)s, at %(time)s (%(zone)s)") % values
    if event:
        return _("%(days)s (%(zone)s)") % values
    return _("%(days)s, end of day (%(zone)s)") % values


def short_date(row: Any) -> str:
    """Return the deadline's first day as a subject gives it: "31 December 2015"."""
    return format_date(row.due_on)


def for_reader(row: Any, zone: str, event: bool) -> str | None:
    """Say when a timed deadline is in the reader's zone, if theirs is another."""
    if zone == row.timezone or (event and not row.at_time):
        return None
    return at_time(row.due_at, zone)


def at_time(moment: datetime, zone: str) -> str:
    """Return ``moment`` in ``zone``, the zone named: "31 December 2015, 09:00 (Asia/Dushanbe)"."""
    return _("%(when)s (%(zone)s)") % {"when": format_datetime(moment, zone), "zone": zone}


def state_title(definition: WorkflowDefinition, state: str) -> str:
    """Return a state's title in the reader's language (its words if the workflow lacks it)."""
    try:
        return definition.state(state).title_in()
    except KeyError:
        return state.replace("_", " ")


def _role_titles(definition: WorkflowDefinition, names: tuple[str, ...]) -> str:
    return format_list([definition.role_title(n) for n in names])


def next_step(
    definition: WorkflowDefinition, kind: DeadlineKindDef | None, escalation: bool
) -> str:
    """Say what happens next with a deadline: when it is met, when reminders stop, who is told."""
    if kind is None:
        return _("See the plan in napflow.")
    if escalation and kind.escalation is not None:
        n = kind.escalation.every_days
        if n == 1:  # "every day", not "every 1 day" (in Russian, 1 shares 21's form)
            return _("Notices continue every day until the deadline is met or cancelled.")
        return ngettext(
            "Notices continue every %(num)d day until the deadline is met or cancelled.",
            "Notices continue every %(num)d days until the deadline is met or cancelled.",
            n,
        ) % {"num": n}
    parts = []
    if kind.met_by_state:
        parts.append(
            _('The deadline is met when the plan reaches "%(state)s".')
            % {"state": state_title(definition, kind.met_by_state)}
        )
    if kind.relative and kind.start_on_entering:
        undone = sorted({r.unless_done for r in kind.rungs if r.unless_done})
        if undone:
            titles = [definition.action_title(t, kind.start_on_entering) for t in undone]
            parts.append(
                _('Once you have done "%(actions)s", these reminders stop.')
                % {"actions": format_list(titles)}
            )
        parts.append(_("The window closes when the plan moves on."))
    if kind.type == "event":
        parts.append(_("This is a meeting; the attached calendar file adds it to your calendar."))
    if kind.escalation is not None:
        n = kind.escalation.every_days
        roles = _role_titles(definition, kind.escalation.to)
        if n == 1:
            told = _(
                "If it is missed, these are told the morning after and then every day "
                "until it is met: %(roles)s."
            )
        else:
            told = ngettext(
                "If it is missed, these are told the morning after and then every %(num)d "
                "day until it is met: %(roles)s.",
                "If it is missed, these are told the morning after and then every %(num)d "
                "days until it is met: %(roles)s.",
                n,
            )
        parts.append(told % {"num": n, "roles": roles})
    return " ".join(parts) or _("See the plan in napflow.")
