"""Timer transitions: what napflow does by itself when a plan's time in a state runs out.

A workflow's timer transition (``after_days = 60``, or ``on_missed = "review_window"``) has
a row in ``timers`` for each plan in its source state, derived again by every change to the
plan (napflow.services._timers.sync_timers, called where its reminders are): due at the end of the
``after_days``-th day after the plan entered the state, in the plan's zone, or when the
deadline it waits for falls due. The scheduler (:func:`fire_due_timers`, each pass before
the mail) fires a due one as napflow itself, in one transaction: the plan still in that
stay in the state, its conditions checked at that moment, the transition sealed like any
action (no actor, no role, the timer in its payload), what it does to deadlines and
messages done, the row marked fired. Of several daemons one fires it; the others find it
done. A timer whose conditions do not hold then is marked refused, with the reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from napflow.errors import ConflictError, InputError, NapflowError
from napflow.i18n import _
from napflow.ledger.record import Kind
from napflow.runtime import Runtime
from napflow.services._plan_facts import load_facts
from napflow.services._records import append, draft_bound, load_head
from napflow.services._timers import (
    CANCELLED,
    FIRED,
    PENDING,
    REFUSED,
    STATUSES,
    entered_record,
)
from napflow.services._visibility import load_viewer, visible_clause
from napflow.services._workflow_versions import ensure_stored
from napflow.services.deadlines import after_action
from napflow.storage.schema import history, plans, timers


def next_timer(rt: Runtime) -> datetime | None:
    """Return when the next pending timer falls due (for the daemon's wake-up)."""
    with rt.db.read() as conn:
        return conn.execute(
            select(timers.c.due_at)
            .where(timers.c.status == PENDING)
            .order_by(timers.c.due_at)
            .limit(1)
        ).scalar()


def fire_due_timers(rt: Runtime) -> int:
    """Fire every timer due now, each in its own transaction; return how many fired.

    One that cannot be fired (its workflow version gone, say) is marked refused with the
    reason, so it never holds up the others or the mail; one whose plan changed while it
    was being fired waits for the next pass.
    """
    fired = 0
    tried: set[int] = set()
    while True:
        outcome = _fire_next(rt, tried)
        if outcome is None:
            return fired
        fired += outcome


def _fire_next(rt: Runtime, tried: set[int]) -> int | None:
    """Fire (or refuse, or cancel) the next due timer: 1 if fired, 0 if not, None if none."""
    now = rt.clock.now()
    query = (
        select(timers.c.id, timers.c.plan_id, timers.c.trigger, timers.c.entered_seq)
        .where(timers.c.status == PENDING, timers.c.due_at <= now)
        .order_by(timers.c.due_at, timers.c.id)
        .limit(1)
    )
    if tried:
        query = query.where(timers.c.id.not_in(sorted(tried)))
    row_id: int | None = None
    try:
        with rt.db.write() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).first()
            if row is None:
                return None
            row_id = row.id
            tried.add(row.id)
            plan = load_head(conn, row.plan_id)  # locked: a person's action waits, or we do
            engine = rt.catalog.engine(plan.workflow, plan.workflow_version)
            entered = entered_record(conn, plan.id)
            if entered.seq != row.entered_seq:  # it left the state since: not this stay's
                _end(conn, row.id, CANCELLED, now)
                return 0
            needs = engine.needs(plan.state, row.trigger)
            facts = load_facts(conn, plan, needs)
            decision = engine.fire(facts, row.trigger)
            if not decision.allowed:
                _end(conn, row.id, REFUSED, now, "; ".join(decision.reasons))
                return 0
            assert decision.transition is not None
            ensure_stored(
                conn,
                rt.catalog,
                engine.definition,
                audit_key=rt.secrets.audit_key,
                at=now,
                actor=None,
            )
            transition = decision.transition
            timer = (
                {"after_days": transition.after_days}
                if transition.after_days is not None
                else {"on_missed": transition.on_missed}
            )
            after = append(
                conn,
                plan,
                audit_key=rt.secrets.audit_key,
                kind=Kind.ACTION if transition.stays else Kind.TRANSITION,
                at=now,
                trigger=row.trigger,
                to_state=facts.state,
                payload={"timer": timer, **(draft_bound(plan) or {})},
            )
            _end(conn, row.id, FIRED, now)
            record = {
                "seq": after.seq,
                "trigger": row.trigger,
                "from_state": plan.state,
                "to_state": facts.state,
                "actor": None,
                "role": None,
                "comment": None,
                "by_napflow": True,  # the notices say so (not "the administrator")
                **(draft_bound(plan) or {"draft": None}),
            }
            after_action(conn, engine, after, record, now, rt.secrets.audit_key)
            return 1
    except ConflictError:  # the plan changed under us: the next pass looks again
        return 0
    except NapflowError as exc:  # it cannot be fired at all: said, and out of the way
        if row_id is None:
            raise
        with rt.db.write() as conn:
            _end(conn, row_id, REFUSED, now, str(exc))
        return 0


def _end(
    conn: Connection, timer_id: int, status: str, now: datetime, note: str | None = None
) -> None:
    conn.execute(
        update(timers)
        .where(timers.c.id == timer_id, timers.c.status == PENDING)
        .values(status=status, ended_at=now, note=note)
    )


@dataclass(frozen=True)
class TimerView:
    """A transition napflow will fire (or fired) by itself."""

    id: int
    plan: str
    trigger: str
    title: str
    from_state: str
    to_state: str | None
    due_at: datetime
    status: str
    timezone: str
    note: str | None
    #: when it was fired, refused or cancelled
    ended_at: datetime | None = None


def list_timers(
    rt: Runtime, status: str | None = PENDING, viewer: str | None = None, key: str | None = None
) -> list[TimerView]:
    """Return the timers of the plans ``viewer`` sees (None: every plan), soonest first.

    ``status``: pending, fired, refused or cancelled (None: every one); ``key``: of that
    plan only.
    """
    if status is not None and status not in STATUSES:
        raise InputError(
            _("There is no timer status %(status)r; statuses: %(statuses)s.")
            % {"status": status, "statuses": ", ".join(STATUSES)}
        )
    with rt.db.read() as conn:
        who = load_viewer(conn, viewer)
        query = (
            select(
                timers.c.id,
                timers.c.trigger,
                timers.c.due_at,
                timers.c.status,
                timers.c.note,
                timers.c.ended_at,
                timers.c.entered_seq,
                plans.c.key,
                plans.c.workflow,
                plans.c.workflow_version,
                plans.c.timezone,
                history.c.to_state.label("state"),  # the state it waits in (or waited)
            )
            .join(plans, plans.c.id == timers.c.plan_id)
            .join(
                history,
                (history.c.plan_id == timers.c.plan_id) & (history.c.seq == timers.c.entered_seq),
            )
            .where(visible_clause(who))
            .order_by(timers.c.due_at, plans.c.key)
        )
        if status is not None:
            query = query.where(timers.c.status == status)
        if key is not None:
            query = query.where(plans.c.key == key)
        rows = conn.execute(query).all()
    found = []
    for row in rows:
        try:
            definition = rt.catalog.get(row.workflow, row.workflow_version)
        except NapflowError:  # a workflow version napflow does not have: its ids
            transition = None
        else:
            transition = definition.transition_for(row.state, row.trigger)
        found.append(
            TimerView(
                row.id,
                row.key,
                row.trigger,
                transition.title_in() if transition is not None else row.trigger,
                row.state,
                transition.dest if transition is not None else None,
                row.due_at,
                row.status,
                row.timezone,
                row.note,
                row.ended_at,
            )
        )
    return found
