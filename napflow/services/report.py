"""The durations report: how long plans spent in each state, their rounds and their returns.

Read from the history alone (creation and transitions), so it answers for any day in the
past as well as for now.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from napflow.ledger.record import Kind
from napflow.runtime import Runtime
from napflow.services.history import state_changes
from napflow.storage.schema import plans
from napflow.workflow.calendar import day_end
from napflow.workflow.definition import WorkflowDefinition

_DAY = 86_400.0


@dataclass(frozen=True)
class Return:
    """A plan sent back to its initial state, and why."""

    at: datetime
    from_state: str
    trigger: str
    actor: str | None
    reason: str | None


@dataclass(frozen=True)
class PlanDurations:
    """One plan's days per state (in workflow order), rounds of review and returns."""

    key: str
    workflow: str
    state: str
    days: dict[str, float]
    rounds: int
    returns: list[Return]
    timezone: str


@dataclass(frozen=True)
class DurationsReport:
    """Every plan's durations, and the median days per state across plans.

    Up to the end of ``as_of`` in each plan's zone, or up to ``generated_at``.
    """

    as_of: date | None
    generated_at: datetime
    states: list[str]
    plans: list[PlanDurations]
    median_days: dict[str, float]


def _plan_durations(
    row: Any, definition: WorkflowDefinition, changes: Sequence[Any], until: datetime
) -> PlanDurations:
    seconds: dict[str, float] = {}
    for change, following in zip(changes, [*changes[1:], None], strict=True):
        state = change.to_state
        if following is None and definition.is_final(state):
            break  # a final state is where a plan ends, not time it spends
        end = following.at if following is not None else until
        seconds[state] = seconds.get(state, 0.0) + (end - change.at).total_seconds()
    initial = definition.initial
    transitions = [c for c in changes if c.kind == Kind.TRANSITION]
    returns = [
        Return(c.at, c.from_state, c.trigger, c.actor, c.comment)
        for c in transitions
        if c.to_state == initial
    ]
    # the workflow's states in its order, then any the plan was in under an earlier version
    ordered = [s for s in definition.state_names if s in seconds]
    ordered += [s for s in seconds if s not in definition.state_names]
    days = {s: round(seconds[s] / _DAY, 2) for s in ordered}
    return PlanDurations(
        key=row.key,
        workflow=row.workflow,
        state=changes[-1].to_state,
        days=days,
        rounds=sum(1 for c in transitions if c.from_state == initial),
        returns=returns,
        timezone=row.timezone,
    )


def durations(rt: Runtime, as_of: date | None = None) -> DurationsReport:
    """Report on every plan up to now, or up to the end of ``as_of`` in each plan's zone.

    A plan's current state counts up to then; a final state counts no time. A round is one
    departure from the workflow's initial state; a return is a transition back into it.
    """
    now = rt.clock.now()
    found: list[PlanDurations] = []
    states: dict[str, None] = {}
    with rt.db.read() as conn:
        for row in conn.execute(select(plans).order_by(plans.c.key)):
            until = min(day_end(as_of, row.timezone), now) if as_of is not None else now
            changes = state_changes(conn, row.id, before=until)
            if not changes:
                continue  # created after that day
            definition = rt.catalog.get(row.workflow, row.workflow_version)
            states.update(dict.fromkeys(definition.state_names))
            found.append(_plan_durations(row, definition, changes, until))
            states.update(dict.fromkeys(found[-1].days))
    columns = [s for s in states if any(s in p.days for p in found)]
    medians = {
        s: round(statistics.median(p.days[s] for p in found if s in p.days), 2) for s in columns
    }
    return DurationsReport(as_of, now, columns, found, medians)
