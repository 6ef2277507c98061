"""The daily digest: one mail a day for people who chose it, instead of one mail each.

A message falls due as usual. When a dispatcher claims it for someone whose ``digest`` is
``daily`` and it is not urgent (an escalation or notice the workflow marks ``urgent``), it
is not sent: it is *held*, and the reader's digest for that day is queued (one outbox row
per reader and day, key ``g:<address>:<day>``, due at the reminder hour in the reader's
zone). The digest lists every message held for the reader when it goes, each with its
links; those messages are then marked sent with the digest's Message-ID, each recorded in
its plan's history, in the digest's own transaction. A held message whose deadline is met
or cancelled meanwhile is cancelled like a waiting one, and leaves the digest.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from napflow.runtime import Runtime
from napflow.services._outbox import DIGEST
from napflow.storage.schema import Status, outbox, people, plans
from napflow.timezones import to_local
from napflow.workflow.calendar import local_to_utc

DAILY = "daily"
#: the choices of ``person edit --digest``: one mail each (none), or one a day
CHOICES = ("none", DAILY)
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


def hold(rt: Runtime, rows: list[Any], now: datetime) -> list[Any]:
    """Hold the claimed messages of digest readers for their digest; return the rest.

    Held rows leave the claim (status ``held``) and their reader's digest is queued, in one
    transaction per batch; a row another dispatcher took over meanwhile is left to it.
    """
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
        zones = _plan_zones(conn, {r.plan_id for r in held})
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
                zone = readers[row.recipient] or zones[row.plan_id]
                queue_digest(conn, row.recipient, row.plan_id, row.send_at, zone, now)
    kept = {r.id for r in held}
    return [r for r in rows if r.id not in kept]


def _plan_zones(conn: Connection, plan_ids: set[int]) -> dict[int, str]:
    rows = conn.execute(
        select(plans.c.id, plans.c.timezone).where(plans.c.id.in_(sorted(plan_ids)))
    )
    return {r.id: r.timezone for r in rows}


def queue_digest(
    conn: Connection, email: str, plan_id: int, due: datetime, zone: str, now: datetime
) -> None:
    """Make sure ``email`` has a digest waiting that will list a message due at ``due``.

    That is the digest of the message's day; if that one already went (or is going), the
    next day's.
    """
    day = digest_day(due, zone, DIGEST_HOUR)
    while True:
        key = digest_key(email, day)
        found = conn.execute(select(outbox.c.status).where(outbox.c.key == key)).first()
        if found is None or found.status == Status.PENDING:
            break
        day += timedelta(days=1)
    at = local_to_utc(day, time(DIGEST_HOUR), zone)
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


def requeue_leftovers(conn: Connection, email: str, plan_id: int, now: datetime) -> None:
    """After a digest went, queue the next for messages held while it was being sent."""
    left = conn.execute(
        select(outbox.c.send_at)
        .where(outbox.c.recipient == email, outbox.c.status == Status.HELD)
        .limit(1)
    ).first()
    if left is None:
        return
    zone = conn.execute(select(people.c.timezone).where(people.c.email == email)).scalar()
    if zone is None:
        zone = conn.execute(select(plans.c.timezone).where(plans.c.id == plan_id)).scalar_one()
    queue_digest(conn, email, plan_id, now, zone, now)
