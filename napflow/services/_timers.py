"""Keeping a plan's timers in step with it: the rows napflow.services.timers fires.

Called in the transaction of every change to a plan (where its reminders are synced).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from napflow.ledger.record import STATE_KINDS
from napflow.services._records import PlanRow
from napflow.storage.schema import Status, deadlines, history, timers
from napflow.timezones import to_local
from napflow.workflow.calendar import due_instant
from napflow.workflow.definition import TransitionDef, WorkflowDefinition

#: a timer's statuses
PENDING, FIRED, REFUSED, CANCELLED = "pending", "fired", "refused", "cancelled"
STATUSES = (PENDING, FIRED, REFUSED, CANCELLED)


def entered_record(conn: Connection, plan_id: int) -> Any:
    """Return the record that sent the plan to its state (seq and when)."""
    return conn.execute(
        select(history.c.seq, history.c.at)
        .where(history.c.plan_id == plan_id, history.c.kind.in_(sorted(STATE_KINDS)))
        .order_by(history.c.seq.desc())
        .limit(1)
    ).one()


def _due(
    conn: Connection, transition: TransitionDef, plan: PlanRow, entered_at: datetime
) -> datetime | None:
    """Return when ``transition`` falls due for ``plan`` (None: it waits for nothing now)."""
    if transition.after_days is not None:
        day = to_local(entered_at, plan.timezone).date() + timedelta(days=transition.after_days)
        return due_instant(day, None, plan.timezone)
    return conn.execute(
        select(deadlines.c.due_at)
        .where(
            deadlines.c.plan_id == plan.id,
            deadlines.c.kind == transition.on_missed,
            deadlines.c.status == Status.PENDING,
        )
        .order_by(deadlines.c.due_at)
        .limit(1)
    ).scalar()


def sync_timers(
    conn: Connection, definition: WorkflowDefinition, plan: PlanRow, now: datetime
) -> None:
    """Make the plan's pending timers match its state now (in the caller's transaction)."""
    timed = [
        t
        for t in definition.transitions
        if t.timer and plan.state in t.sources and not definition.is_final(plan.state)
    ]
    existing = conn.execute(
        select(timers.c.id, timers.c.trigger, timers.c.entered_seq, timers.c.due_at).where(
            timers.c.plan_id == plan.id, timers.c.status == PENDING
        )
    ).all()
    if not timed and not existing:
        return
    wanted: dict[tuple[str, int], datetime] = {}
    if timed:
        entered = entered_record(conn, plan.id)
        for transition in timed:
            due = _due(conn, transition, plan, entered.at)
            if due is not None:
                wanted[(transition.trigger, entered.seq)] = due
    for row in existing:
        due = wanted.pop((row.trigger, row.entered_seq), None)
        if due is None:
            conn.execute(
                update(timers).where(timers.c.id == row.id).values(status=CANCELLED, ended_at=now)
            )
        elif due != row.due_at:
            conn.execute(update(timers).where(timers.c.id == row.id).values(due_at=due))
    for (trigger, seq), due in wanted.items():
        done = conn.execute(
            select(timers.c.id).where(
                timers.c.plan_id == plan.id,
                timers.c.trigger == trigger,
                timers.c.entered_seq == seq,
            )
        ).first()
        if done is None:  # once per stay in the state: a fired or refused one stays so
            conn.execute(
                insert(timers).values(
                    plan_id=plan.id,
                    trigger=trigger,
                    entered_seq=seq,
                    due_at=due,
                    status=PENDING,
                )
            )
