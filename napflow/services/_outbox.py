"""Reminders are data: the outbox rows a plan's deadlines, roles and transitions call for.

:func:`sync_reminders` computes, from a plan's pending deadlines, the workflow's ladders and
who holds which role now, the reminder rows there should be, and reconciles the outbox with
them in the caller's transaction: missing future rows are added, rows nobody needs any more
are cancelled, rows whose time changed are moved. Every service that changes any of those
inputs calls it, so the outbox always matches the plan. Each row has a unique key (deadline
and its sequence, rung, recipient), so nothing is ever queued twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from napflow.ledger.record import Kind
from napflow.services._plan_facts import actions_of, round_actions
from napflow.services._records import PlanRow
from napflow.services._timers import sync_timers
from napflow.storage.schema import Status, deadlines, history, outbox, people, roles
from napflow.workflow.calendar import escalation_instant, reminder_instant
from napflow.workflow.deadline_kinds import DeadlineKindDef
from napflow.workflow.definition import WorkflowDefinition
from napflow.workflow.engine import Engine

REMINDER = "reminder"
ESCALATION = "escalation"
NOTICE = "notice"
CHANGE = "change"  # a deadline people were reminded of was moved or cancelled
DRAFT = "draft"  # a new draft restarted a round: those who had acted in it are told
DIGEST = "digest"  # one mail a day listing the messages held for a reader who chose it


@dataclass(frozen=True)
class Holder:
    """A person holding a role on the plan, with the zone their reminders are timed in."""

    email: str
    role: str
    timezone: str


@dataclass(frozen=True)
class Wanted:
    """An outbox row the plan calls for."""

    key: str
    deadline_id: int
    kind: str
    rung: str
    recipient: str
    send_at: datetime
    #: sent at once even to someone who chose a daily digest
    urgent: bool = False


def deadline_key(deadline_id: int, sequence: int, rung: str, recipient: str) -> str:
    """Return the unique outbox key of one rung of one deadline version for one person."""
    return f"d{deadline_id}.{sequence}:{rung}:{recipient}"


def escalation_rung(number: int) -> str:
    """Return the rung name of escalation ``number`` (1, 2, ...)."""
    return f"escalation-{number}"


def holders(conn: Connection, plan: PlanRow) -> list[Holder]:
    """Return every role holder of the plan with their reminder zone (theirs, else the plan's)."""
    rows = conn.execute(
        select(people.c.email, people.c.timezone, roles.c.role)
        .join(people, people.c.id == roles.c.person_id)
        .where(roles.c.plan_id == plan.id, people.c.deactivated_at.is_(None))
    )
    return [Holder(r.email, r.role, r.timezone or plan.timezone) for r in rows]


def _recipients(found: Iterable[Holder], wanted_roles: tuple[str, ...]) -> dict[str, Holder]:
    chosen: dict[str, Holder] = {}
    for holder in found:
        if holder.role in wanted_roles:
            chosen.setdefault(holder.email, holder)
    return chosen


def wanted_rows(
    definition: WorkflowDefinition,
    pending: Iterable[Any],
    found: list[Holder],
    done_in_round: dict[str, set[str]],
) -> list[Wanted]:
    """Return the reminder and first-escalation rows that ``pending`` deadlines call for.

    ``done_in_round`` maps a trigger to who fired it in the current round (``unless_done``).
    """
    result = []
    for d in pending:
        kind: DeadlineKindDef | None = definition.deadline_kind(d.kind)
        if kind is None:
            continue
        hour = kind.hour(definition.reminder_hour)
        for rung in kind.rungs:
            skip = done_in_round.get(rung.unless_done or "", set())
            for email, holder in _recipients(found, rung.to).items():
                if email in skip:
                    continue
                at = reminder_instant(d.due_on, rung.days_before, hour, holder.timezone)
                key = deadline_key(d.id, d.sequence, rung.name, email)
                result.append(Wanted(key, d.id, REMINDER, rung.name, email, at))
        if kind.escalation is not None:
            for email, holder in _recipients(found, kind.escalation.to).items():
                at = escalation_instant(
                    d.due_on,
                    1,
                    kind.escalation.every_days,
                    hour,
                    holder.timezone,
                    not_before=d.due_at,
                )
                rung_name = escalation_rung(1)
                key = deadline_key(d.id, d.sequence, rung_name, email)
                urgent = kind.escalation.urgent
                result.append(Wanted(key, d.id, ESCALATION, rung_name, email, at, urgent))
    return result


#: a message waiting to go, or held for its reader's daily digest
_WAITING = (Status.PENDING, Status.HELD)
_CANCEL = (
    update(outbox)
    .where(outbox.c.id == bindparam("row_id"), outbox.c.status.in_(_WAITING))
    .values(status=Status.CANCELLED)
)
_REVIVE = (
    update(outbox)
    .where(outbox.c.id == bindparam("row_id"), outbox.c.status == Status.CANCELLED)
    .values(
        status=Status.PENDING,
        send_at=bindparam("at"),
        next_attempt_at=bindparam("at"),
        attempts=0,
        last_error=None,
    )
)
_RETIME = (
    update(outbox)
    .where(outbox.c.id == bindparam("row_id"), outbox.c.status == Status.PENDING)
    .values(send_at=bindparam("at"), next_attempt_at=bindparam("at"))
)


def sync_reminders(
    conn: Connection,
    definition: WorkflowDefinition,
    plan: PlanRow,
    now: datetime,
) -> None:
    """Make the plan's pending reminder and escalation rows match what it calls for now.

    Its timers too (napflow.services._timers): they follow its state and deadlines.
    """
    sync_timers(conn, definition, plan, now)
    if not definition.deadlines:
        return
    pending = conn.execute(
        select(deadlines).where(
            deadlines.c.plan_id == plan.id, deadlines.c.status == Status.PENDING
        )
    ).all()
    if not pending:
        return  # ended deadlines cancel their own rows (cancel_deadline_rows)
    existing = conn.execute(
        select(
            outbox.c.id,
            outbox.c.key,
            outbox.c.kind,
            outbox.c.recipient,
            outbox.c.deadline_id,
            outbox.c.status,
            outbox.c.send_at,
        ).where(
            outbox.c.deadline_id.in_([d.id for d in pending]),
            outbox.c.kind.in_((REMINDER, ESCALATION)),
        )
    ).all()
    found = holders(conn, plan)
    done: dict[str, set[str]] = {}
    if any(r.unless_done for d in pending for r in _rungs_of(definition, d.kind)):
        for action in round_actions(conn, plan):
            done.setdefault(action.trigger, set()).add(action.actor)
    wanted = {w.key: w for w in wanted_rows(definition, pending, found, done)}
    escalating = {(w.deadline_id, w.recipient) for w in wanted.values() if w.kind == ESCALATION}
    by_key = {r.key: r for r in existing}
    for row in existing:
        if row.status not in _WAITING:
            continue
        if row.kind == ESCALATION:
            # later escalations are added by the dispatcher; keep them while still wanted
            keep = (row.deadline_id, row.recipient) in escalating
        else:
            keep = row.key in wanted
        if not keep:
            conn.execute(_CANCEL, {"row_id": row.id})
        elif (
            row.key in wanted
            and wanted[row.key].send_at != row.send_at
            and row.status == Status.PENDING
        ):
            conn.execute(_RETIME, {"row_id": row.id, "at": wanted[row.key].send_at})
    for key, w in wanted.items():
        old = by_key.get(key)
        if old is not None and old.status == Status.CANCELLED and w.send_at >= now:
            # wanted again (a role given back, say) and still ahead: queue it again
            conn.execute(_REVIVE, {"row_id": old.id, "at": w.send_at})
    new = [
        w
        for w in wanted.values()
        if w.key not in by_key and (w.kind == ESCALATION or w.send_at >= now)
    ]
    if new:
        rows = [_row(plan.id, w, now, {"urgent": True} if w.urgent else None) for w in new]
        conn.execute(insert(outbox), rows)


def _rungs_of(definition: WorkflowDefinition, kind: str) -> tuple[Any, ...]:
    found = definition.deadline_kind(kind)
    return found.rungs if found is not None else ()


def _row(
    plan_id: int, w: Wanted, now: datetime, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "key": w.key,
        "plan_id": plan_id,
        "deadline_id": w.deadline_id or None,
        "kind": w.kind,
        "rung": w.rung,
        "recipient": w.recipient,
        "send_at": w.send_at,
        "status": Status.PENDING,
        "attempts": 0,
        "next_attempt_at": w.send_at,
        "late": False,
        "payload": payload,
        "created_at": now,
    }


def cancel_deadline_rows(conn: Connection, deadline_id: int) -> None:
    """Cancel every waiting message of one deadline (it was met, moved away or cancelled)."""
    conn.execute(
        update(outbox)
        .where(outbox.c.deadline_id == deadline_id, outbox.c.status.in_(_WAITING))
        .values(status=Status.CANCELLED)
    )


def queue_notices(
    conn: Connection,
    engine: Engine,
    plan: PlanRow,
    record: dict[str, Any],
    now: datetime,
) -> None:
    """Queue the transition notices ``record`` (a history record's fields) calls for.

    ``plan`` is the plan after the action. Each message keeps what its reader could do
    once the action was done (``can``): a mail sent late still says what the event left
    them to do, and what is current when it goes.
    """
    trigger = record["trigger"]
    notices = [n for n in engine.definition.notices if trigger in n.triggers]
    wanted_roles = tuple(r for n in notices for r in n.to)
    if not wanted_roles:
        return
    found = holders(conn, plan)
    told = [e for e in _recipients(found, wanted_roles) if e != record.get("actor")]
    # urgent for those an urgent notice names, whatever other notice names them too
    urgent = set(_recipients(found, tuple(r for n in notices if n.urgent for r in n.to)))
    can = actions_of(conn, engine, plan, told)
    rows = [
        _row(
            plan.id,
            Wanted(f"n{plan.id}.{record['seq']}:{email}", 0, NOTICE, trigger, email, now),
            now,
            {**record, "can": can[email], **({"urgent": True} if email in urgent else {})},
        )
        for email in told
    ]
    if rows:
        conn.execute(insert(outbox), rows)


def queue_draft_notices(
    conn: Connection,
    engine: Engine,
    plan: PlanRow,
    after: PlanRow,
    record: dict[str, Any],
    now: datetime,
) -> None:
    """Tell everyone who acted in the round a new draft restarted that it did.

    ``plan`` is the plan as it was before the new draft (its round still the old one),
    ``after`` the plan with it; ``record`` the draft record's fields. Those who acted in
    the round are told, and those told of the draft that began it who have not acted since
    (two drafts in a row: they still must act, now on the newer one; a mail about the
    older one still waiting is cancelled). Each message names the draft the person last
    acted on, so their mail can say what changed since, and keeps what they could do once
    the draft was added. Not the uploader, nor anyone no longer holding the role they
    acted in, nor a deactivated person.
    """
    still = {(h.email, h.role) for h in holders(conn, plan)}
    last: dict[str, dict[str, Any]] = {}
    earlier = conn.execute(  # told of the draft that began this round
        select(outbox.c.id, outbox.c.recipient, outbox.c.status, outbox.c.payload).where(
            outbox.c.plan_id == plan.id,
            outbox.c.kind == DRAFT,
            outbox.c.key.like(f"v{plan.id}.{plan.entered_seq}:%"),
        )
    ).all()
    for row in earlier:
        told = row.payload or {}
        last[row.recipient] = {k: told.get(k) for k in ("acted_on", "trigger", "role")}
        if row.status in _WAITING:  # about a draft no longer current: not sent
            conn.execute(_CANCEL, {"row_id": row.id})
    acted = conn.execute(
        select(history.c.actor, history.c.trigger, history.c.role, history.c.payload)
        .where(
            history.c.plan_id == plan.id,
            history.c.seq > plan.entered_seq,
            history.c.kind == Kind.ACTION,
            history.c.actor.is_not(None),
        )
        .order_by(history.c.seq)
    ).all()
    for row in acted:
        bound = (row.payload or {}).get("draft") or {}
        last[row.actor] = {
            "acted_on": bound.get("version"),
            "trigger": row.trigger,
            "role": row.role,
        }
    told = {
        email: mine
        for email, mine in sorted(last.items())
        if email != record.get("actor") and (email, mine["role"]) in still
    }
    can = actions_of(conn, engine, after, told) if told else {}
    rows = [
        _row(
            plan.id,
            Wanted(f"v{plan.id}.{record['seq']}:{email}", 0, DRAFT, "restarted", email, now),
            now,
            {**record, **mine, "can": can[email]},
        )
        for email, mine in told.items()
    ]
    if rows:
        conn.execute(insert(outbox), rows)


def queue_change_notices(conn: Connection, deadline: Any, change: str, now: datetime) -> None:
    """Tell everyone already reminded of a deadline that it was moved or cancelled.

    ``deadline`` is the row as it is after the change; ``change`` is "moved" or "cancelled".
    Only those still on the plan and active: someone who left it, or was deactivated, is
    told nothing more about it.
    """
    on_plan = select(people.c.email).join(roles, roles.c.person_id == people.c.id)
    on_plan = on_plan.where(roles.c.plan_id == deadline.plan_id, people.c.deactivated_at.is_(None))
    reminded = (
        conn.execute(
            select(outbox.c.recipient)
            .distinct()
            .where(
                outbox.c.deadline_id == deadline.id,
                outbox.c.status == Status.SENT,
                outbox.c.kind.in_((REMINDER, ESCALATION)),
                outbox.c.recipient.in_(on_plan),
            )
        )
        .scalars()
        .all()
    )
    rows = [
        _row(
            deadline.plan_id,
            Wanted(
                deadline_key(deadline.id, deadline.sequence, change, email),
                deadline.id,
                CHANGE,
                change,
                email,
                now,
            ),
            now,
        )
        for email in sorted(reminded)
    ]
    if rows:
        conn.execute(insert(outbox), rows)


def readdress_mail(conn: Connection, old: str, new: str) -> int:
    """Send every message still waiting for ``old`` to ``new`` instead; return how many.

    Each keeps its time, rung and place in an escalation ladder; its key (which ends in
    the recipient's address) follows the address, so nothing is queued twice.
    """
    waiting = conn.execute(
        select(outbox.c.id, outbox.c.key, outbox.c.kind).where(
            outbox.c.recipient == old, outbox.c.status.in_(_WAITING)
        )
    ).all()
    for row in waiting:
        if row.kind == DIGEST:  # g:<address>:<day>
            key = f"g:{new}:{row.key.rpartition(':')[2]}"
        else:
            key = row.key.removesuffix(f":{old}") + f":{new}"
        conn.execute(update(outbox).where(outbox.c.id == row.id).values(recipient=new, key=key))
    return len(waiting)
