"""The daily digest: one mail a day for people who chose it, instead of one mail each.

A message falls due as usual. When a dispatcher claims it for someone whose ``digest`` is
``daily`` and it is not urgent (an escalation or notice the workflow marks ``urgent``), it
is not sent: it is *held*, and the reader's digest for that day is queued (one outbox row
per reader and day, key ``g:<address>:<day>``, due at the workflow's reminder hour in
the reader's zone). The digest lists every message held for the reader when it goes, each
with its links; those messages are then marked sent with the digest's Message-ID, each recorded in
its plan's history, in the digest's own transaction. A held message whose deadline is met
or cancelled meanwhile is cancelled like a waiting one, and leaves the digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from napflow.errors import NapflowError
from napflow.runtime import Runtime
from napflow.services._outbox import DIGEST
from napflow.storage.schema import Status, outbox, people, plans
from napflow.timezones import to_local
from napflow.workflow.calendar import local_to_utc

#: a person's ``digest`` when they chose one mail a day (napflow.inputs.digest)
DAILY = "daily"
#: the local hour a digest goes at when its plans' workflows name none
DIGEST_HOUR = 9


def is_urgent(row: Any) -> bool:
    """Tell whether a message goes at once even to people who chose a digest."""
    return bool((row.payload or {}).get("urgent"))


def digest_day(due: datetime, zone: str, hour: int) -> date:
    """Return the day of the digest a message due at ``due`` goes in: the first at ``hour``."""
    local = to_local(due, zone)
    return local.date() if local.time() <= time(hour) else local.date() + timedelta(days=1)


def digest_key(email: str, day: date) -> str:
    """Return the outbox key of ``email``'s digest of ``day``."""
    return f"g:{email}:{day.isoformat()}"


@dataclass
class Held:
    """The messages one digest lists, and those of them that could not be written."""

    items: list[Any]
    #: id -> why (a message that cannot be written fails alone; the digest goes without it)
    broken: dict[int, str] = field(default_factory=dict)


def hold(rt: Runtime, rows: list[Any], now: datetime) -> list[Any]:
    """Hold the claimed messages of digest readers for their digest; return the rest.

    Held rows leave the claim (status ``held``) and their reader's digest is queued, in one
    transaction per batch; a row another dispatcher took over meanwhile is left to it.
    Held messages left without a digest waiting (a digest that went while they were being
    held by another dispatcher) get one first.
    """
    _sweep(rt, now)
    candidates = [r for r in rows if r.kind != DIGEST and not is_urgent(r)]
    if not candidates:
        return rows
    with rt.db.read() as conn:
        readers = {
            r.email: r.timezone
            for r in conn.execute(
                select(people.c.email, people.c.timezone).where(
                    people.c.email.in_(sorted({r.recipient for r in candidates})),
                    people.c.digest == DAILY,
                )
            )
        }
    held = [r for r in candidates if r.recipient in readers]
    if not held:
        return rows
    with rt.db.write() as conn:
        found = _plans(conn, {r.plan_id for r in held})
        for row in held:
            taken = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id == row.id,
                    outbox.c.status == Status.SENDING,
                    outbox.c.claimed_at == row.claimed_at,
                )
                .values(status=Status.HELD, claimed_at=None)
            )
            if taken.rowcount == 1:
                zone, workflow = found[row.plan_id]
                # when it fell due: sent again (or retried), it is due from then on
                when = Due(row.next_attempt_at, readers[row.recipient] or zone, _hour(rt, workflow))
                queue_digest(conn, row.recipient, row.plan_id, when, now)
    kept = {r.id for r in held}
    return [r for r in rows if r.id not in kept]


def _hour(rt: Runtime, workflow: str) -> int:
    """Return the local hour a workflow's reminders go at: its plans' digests go then too."""
    try:
        return rt.catalog.get(workflow).reminder_hour
    except NapflowError:  # a workflow napflow no longer has: the default hour
        return DIGEST_HOUR


def _plans(conn: Connection, plan_ids: set[int]) -> dict[int, tuple[str, str]]:
    rows = conn.execute(
        select(plans.c.id, plans.c.timezone, plans.c.workflow).where(
            plans.c.id.in_(sorted(plan_ids))
        )
    )
    return {r.id: (r.timezone, r.workflow) for r in rows}


class Due(NamedTuple):
    """When a held message fell due, and the reader's zone and hour its digest goes at."""

    at: datetime
    zone: str
    hour: int


def queue_digest(conn: Connection, email: str, plan_id: int, due: Due, now: datetime) -> None:
    """Make sure ``email`` has a digest waiting that will list a message that fell due.

    That is the digest of the message's day, never of a day before today (a message sent
    again, or after downtime); if that one already went, or is going, the next day's. The
    digest row is locked while this is decided (PostgreSQL), so no dispatcher sends it in
    between and leaves the message behind.
    """
    day = max(digest_day(due.at, due.zone, due.hour), to_local(now, due.zone).date())
    while True:
        key = digest_key(email, day)
        found = conn.execute(
            select(outbox.c.status).where(outbox.c.key == key).with_for_update()
        ).first()
        if found is None or found.status == Status.PENDING:
            break
        day += timedelta(days=1)
    at = local_to_utc(day, time(due.hour), due.zone)
    values = {
        "key": key,
        "plan_id": plan_id,
        "deadline_id": None,
        "kind": DIGEST,
        "rung": DAILY,
        "recipient": email,
        "send_at": at,
        "status": Status.PENDING,
        "attempts": 0,
        "next_attempt_at": at,
        "late": False,
        "payload": None,
        "created_at": now,
    }
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(dialect_insert(outbox).values(**values).on_conflict_do_nothing())


def _sweep(rt: Runtime, now: datetime) -> None:
    """Queue a digest for every reader with held messages and no digest waiting or going."""
    waiting = outbox.alias("waiting")
    stranded = (
        select(outbox.c.recipient, func.min(outbox.c.plan_id).label("plan_id"))
        .where(
            outbox.c.status == Status.HELD,
            ~exists().where(
                waiting.c.recipient == outbox.c.recipient,
                waiting.c.kind == DIGEST,
                waiting.c.status.in_((Status.PENDING, Status.SENDING)),
            ),
        )
        .group_by(outbox.c.recipient)
    )
    with rt.db.read() as conn:
        found = conn.execute(stranded).all()
    if not found:
        return
    with rt.db.write() as conn:
        for row in found:
            requeue_leftovers(conn, rt, row.recipient, row.plan_id, now)


def held_items(conn: Connection, email: str) -> list[Any]:
    """Return the messages held for ``email``'s digest, oldest first."""
    return list(
        conn.execute(
            select(outbox)
            .where(outbox.c.recipient == email, outbox.c.status == Status.HELD)
            .order_by(outbox.c.send_at, outbox.c.id)
        )
    )


def release(conn: Connection, email: str, now: datetime) -> int:
    """Send ``email``'s held messages one by one again, now; cancel their digest.

    For someone who no longer wants a digest. Return how many were released.
    """
    released = conn.execute(
        update(outbox)
        .where(outbox.c.recipient == email, outbox.c.status == Status.HELD)
        .values(status=Status.PENDING, next_attempt_at=now)
    ).rowcount
    conn.execute(
        update(outbox)
        .where(
            outbox.c.recipient == email,
            outbox.c.kind == DIGEST,
            outbox.c.status == Status.PENDING,
        )
        .values(status=Status.CANCELLED)
    )
    return int(released)


def requeue_leftovers(
    conn: Connection, rt: Runtime, email: str, plan_id: int, now: datetime
) -> None:
    """After a digest went, queue the next for messages held while it was being sent."""
    left = conn.execute(
        select(outbox.c.send_at)
        .where(outbox.c.recipient == email, outbox.c.status == Status.HELD)
        .limit(1)
    ).first()
    if left is None:
        return
    zone = conn.execute(select(people.c.timezone).where(people.c.email == email)).scalar()
    plan = conn.execute(
        select(plans.c.timezone, plans.c.workflow).where(plans.c.id == plan_id)
    ).one()
    queue_digest(
        conn, email, plan_id, Due(now, zone or plan.timezone, _hour(rt, plan.workflow)), now
    )
