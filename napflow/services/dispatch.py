"""Dispatch: claim due outbox rows, render them, send them, record the outcome.

One pass claims a batch atomically (a row claimed by one dispatcher is invisible to every
other), then sends each row and marks it in its own transaction. A dispatcher killed between
the server's acceptance and the mark leaves its row "sending"; once the lease runs out another
pass sends it again with the same Message-ID, so a crash costs at most that one duplicate and
never a lost message (at-least-once, with the window as small as one message).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, update

from napflow.errors import ConfigError, ConflictError
from napflow.ledger.record import Kind
from napflow.notifications.mailer import DeliveryError, Mailer, Outgoing, TemporaryFailure
from napflow.runtime import Runtime
from napflow.services._digest import Held, held_items, hold, requeue_leftovers
from napflow.services._ledger_key import require_writer
from napflow.services._messages import PassCache, compose, compose_digest
from napflow.services._outbox import DIGEST, ESCALATION, deadline_key, escalation_rung
from napflow.services._records import append, load_head
from napflow.services.timers import fire_due_timers, next_timer
from napflow.storage.fastpath import FastStatement
from napflow.storage.schema import Status, deadlines, outbox, people, plans
from napflow.workflow.calendar import escalation_instant

#: a row sent this long after its time is marked (and says it is) late
LATE_AFTER = timedelta(minutes=15)
#: the outcome of a row another dispatcher took over (its lease ran out)
LOST = "lost"
#: how many messages are composed ahead of the one being sent
COMPOSE_AHEAD = 2
#: first retry after a temporary failure; doubles each time, up to the cap
FIRST_RETRY = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=6)


@dataclass(frozen=True)
class PassResult:
    """What one dispatch pass did."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    late: int = 0

    def __add__(self, other: PassResult) -> PassResult:
        return PassResult(*(getattr(self, f) + getattr(other, f) for f in _FIELDS))


_FIELDS = ("claimed", "sent", "retrying", "failed", "late")


def message_id(key: str, sender: str) -> str:
    """Return the Message-ID of the outbox row with ``key``: the same on every attempt."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@{sender.rpartition('@')[2]}>"


def _claim(rt: Runtime, now: datetime, limit: int) -> list[Any]:
    due = or_(
        and_(outbox.c.status == Status.PENDING, outbox.c.next_attempt_at <= now),
        # claimed, but not marked within the lease: its dispatcher died (or hangs)
        and_(
            outbox.c.status == Status.SENDING,
            outbox.c.claimed_at <= now - timedelta(seconds=rt.settings.lease_seconds),
        ),
    )
    # PostgreSQL: rows another dispatcher is claiming right now are passed over, not waited
    # for (SQLite's write lock already makes claims one at a time). The batch is a
    # MATERIALIZED CTE there, so it is chosen once: as an ``IN (subquery)`` PostgreSQL may run the
    # subquery again for each row, and with SKIP LOCKED every run skips the rows this very
    # statement has just claimed, so one claim took the whole queue whatever the limit.
    batch = (
        select(outbox.c.id)
        .where(due)
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("batch")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    claim = (
        update(outbox)
        .where(outbox.c.id.in_(select(batch.c.id)), due)
        .values(status=Status.SENDING, claimed_at=now, attempts=outbox.c.attempts + 1)
        .returning(*outbox.c)
    )
    with rt.db.write() as conn:
        rows = [SimpleNamespace(**r._mapping) for r in conn.execute(claim)]
    return sorted(rows, key=lambda r: (r.next_attempt_at, r.id))


# Marking a row sent runs once per message: built once (see napflow.storage.fastpath).
_MARK_SENT = FastStatement(
    update(outbox)
    .where(
        outbox.c.id == bindparam("row_id"),
        outbox.c.status == Status.SENDING,
        outbox.c.claimed_at == bindparam("claimed"),
    )
    .values(
        status=Status.SENT,
        sent_at=bindparam("sent"),
        message_id=bindparam("mid"),
        late=bindparam("is_late"),
        last_error=None,
    )
)


def _finish(rt: Runtime, row: Any, now: datetime, held: Held | None, **values: Any) -> bool:
    """Record a row's outcome if this dispatcher still holds its claim; say whether it did.

    A message sent or failed for good is recorded in its plan's history, in the same
    transaction. An escalation, sent or failed for good, queues the next one: a bad address
    this week must not end the chain for the others. A digest's outcome is that of each
    message it lists (``held``), recorded for each in its own plan's history.
    """
    for attempt in range(1, _FINISH_ATTEMPTS + 1):
        try:
            return _finish_once(rt, row, now, held, values)
        except ConflictError:  # the plan moved on meanwhile (an engine without row locks)
            if attempt == _FINISH_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


_FINISH_ATTEMPTS = 3


def _finish_once(
    rt: Runtime, row: Any, now: datetime, held: Held | None, values: dict[str, Any]
) -> bool:
    # not fsynced: a power cut may forget up to a batch of these records, and those messages
    # go out again (at-least-once); a crash of napflow itself forgets nothing
    with rt.db.write(durable=False) as conn:
        if values.get("status") == Status.SENT:
            marked = _MARK_SENT.execute(
                conn,
                {
                    "row_id": row.id,
                    "claimed": row.claimed_at,
                    "sent": values["sent_at"],
                    "mid": values["message_id"],
                    "is_late": values["late"],
                },
            )
        else:
            marked = conn.execute(update(outbox).where(_still_claimed(row)).values(**values))
        claim_held = bool(marked.rowcount == 1)
        final = values.get("status") in (Status.SENT, Status.FAILED)
        if claim_held and final and held is not None:
            _finish_items(rt, conn, row, now, held, values)
        elif claim_held and final:  # at the moment of recording, so a plan's times never go back
            _record_delivery(conn, row, rt.clock.now(), values, rt.secrets.audit_key)
        if claim_held and row.kind == ESCALATION and final:
            _queue_next_escalation(rt, conn, row, now)
    return claim_held


def _finish_items(
    rt: Runtime,
    conn: Connection,
    digest: Any,
    now: datetime,
    held: Held,
    values: dict[str, Any],
) -> None:
    """Give each message a digest listed the digest's outcome, recorded in its plan's history.

    A message that could not be written failed alone, with its reason. Messages held
    while the digest was being sent wait for the next one.
    """
    for item in held.items:
        outcome = {k: v for k, v in values.items() if k != "next_attempt_at"}
        if item.id in held.broken:
            outcome = {"status": Status.FAILED, "last_error": held.broken[item.id]}
        marked = conn.execute(
            update(outbox)
            .where(outbox.c.id == item.id, outbox.c.status == Status.HELD)
            .values(**outcome)
        )
        if marked.rowcount != 1:
            continue  # cancelled meanwhile (its deadline was met)
        _record_delivery(conn, item, rt.clock.now(), outcome, rt.secrets.audit_key, digest.key)
        if item.kind == ESCALATION:
            _queue_next_escalation(rt, conn, item, now)
    requeue_leftovers(conn, rt, digest.recipient, digest.plan_id, now)


def _record_delivery(
    conn: Connection,
    row: Any,
    now: datetime,
    values: dict[str, Any],
    audit_key: bytes | None,
    digest: str | None = None,
) -> None:
    """Append the outcome of one message to its plan's history (no new plan version).

    ``digest``: the key of the daily digest that carried it.
    """
    sent = values["status"] == Status.SENT
    payload: dict[str, Any] = {
        "mail": row.kind,
        "rung": row.rung,
        "recipient": row.recipient,
        "attempts": row.attempts,
        "outbox": row.key,
    }
    if digest is not None:
        payload["digest"] = digest
    if row.deadline_id is not None:
        payload["deadline"] = row.deadline_id
    if sent:
        payload.update(message_id=values["message_id"], late=values["late"])
    else:
        payload["error"] = values["last_error"]
    append(
        conn,
        load_head(conn, row.plan_id),
        audit_key=audit_key,
        kind=Kind.MAIL_SENT if sent else Kind.MAIL_FAILED,
        at=now,
        payload=payload,
    )


def _still_claimed(row: Any) -> Any:
    """Match ``row`` only while it carries this dispatcher's claim."""
    return and_(
        outbox.c.id == row.id,
        outbox.c.status == Status.SENDING,
        outbox.c.claimed_at == row.claimed_at,
    )


def _still_ours(rt: Runtime, row: Any) -> Any | None:
    """Renew the claim on a row claimed a while ago; None if another dispatcher took it.

    A pass slower than the lease (a slow server, long time-outs) would otherwise send rows
    that another dispatcher has taken over and is sending too.
    """
    now = rt.clock.now()
    if now - row.claimed_at < timedelta(seconds=rt.settings.lease_seconds / 2):
        return row
    with rt.db.write() as conn:
        renewed = conn.execute(update(outbox).where(_still_claimed(row)).values(claimed_at=now))
    return SimpleNamespace(**{**vars(row), "claimed_at": now}) if renewed.rowcount == 1 else None


def _queue_next_escalation(rt: Runtime, conn: Connection, row: Any, now: datetime) -> None:
    """After escalation n went out, queue n+1 while the deadline is still not met."""
    found = conn.execute(
        select(
            deadlines,
            plans.c.workflow,
            plans.c.workflow_version,
            plans.c.timezone.label("plan_zone"),
        )
        .join(plans, plans.c.id == deadlines.c.plan_id)
        .where(deadlines.c.id == row.deadline_id)
    ).first()
    if found is None or found.status != Status.PENDING:
        return
    kind = rt.catalog.get(found.workflow, found.workflow_version).deadline_kind(found.kind)
    if kind is None or kind.escalation is None:
        return
    number = int(row.rung.rpartition("-")[2]) + 1
    person = conn.execute(
        select(people.c.timezone, people.c.deactivated_at).where(people.c.email == row.recipient)
    ).first()
    if person is not None and person.deactivated_at is not None:
        return  # they left while this one was going out: nothing more for them
    zone = (person.timezone if person is not None else None) or found.plan_zone
    hour = kind.hour(rt.catalog.get(found.workflow, found.workflow_version).reminder_hour)
    at = escalation_instant(
        found.due_on, number, kind.escalation.every_days, hour, zone, not_before=found.due_at
    )
    rung = escalation_rung(number)
    key = deadline_key(found.id, found.sequence, rung, row.recipient)
    if conn.execute(select(outbox.c.id).where(outbox.c.key == key)).first() is None:
        conn.execute(
            insert(outbox).values(
                key=key,
                plan_id=row.plan_id,
                deadline_id=row.deadline_id,
                kind=ESCALATION,
                rung=rung,
                recipient=row.recipient,
                send_at=at,
                status=Status.PENDING,
                attempts=0,
                next_attempt_at=at,
                late=False,
                payload={"urgent": True} if kind.escalation.urgent else None,
                created_at=now,
            )
        )


def _backoff(attempts: int) -> timedelta:
    delay: timedelta = FIRST_RETRY * (2 ** max(attempts - 1, 0))
    return min(delay, RETRY_CAP)


def dispatch_due(rt: Runtime, limit: int | None = None) -> PassResult:
    """Send what is due now (one batch); return what happened.

    A process whose audit key this database's ledger refuses is refused before anything is
    claimed or sent (ConfigError).
    """
    mailer = rt.mailer
    if mailer is None:
        raise ConfigError("No mail transport is configured; see [mail] in config.toml.")
    # a message sent is recorded in its plan's sealed history: a process whose audit key
    # the ledger refuses sends nothing, and the queue stays as it is
    require_writer(rt)
    now = rt.clock.now()
    claimed = _claim(rt, now, limit or rt.settings.batch_size)
    if not claimed:
        return PassResult()
    rows, digests = _digests(rt, hold(rt, claimed, now))
    sent = retrying = failed = late = 0
    # Messages are composed in a second thread while this one waits on the mail server,
    # which is most of the time; sending and marking stay in order, one at a time, so a
    # crash still leaves at most one message sent but not marked.
    cache = PassCache()
    composer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="napflow-compose")
    upcoming = iter(rows)
    built: deque[Future[Outgoing]] = deque()

    def compose_next() -> None:
        row = next(upcoming, None)
        if row is not None:
            built.append(composer.submit(_build, rt, mailer, row, now, cache, digests.get(row.id)))

    try:
        # Only a couple ahead: a composer racing through the whole batch would hold the GIL
        # just when the sender's reply arrives, and slow the sending down.
        composer.submit(cache.prefetch, rt, {row.recipient for row in rows})
        for _ in range(COMPOSE_AHEAD):
            compose_next()
        for row in rows:
            message = built.popleft()
            compose_next()
            outcome = _deliver(rt, mailer, row, now, message, digests.get(row.id))
            sent += outcome == Status.SENT
            failed += outcome == Status.FAILED
            retrying += outcome == Status.PENDING
            late += outcome == Status.SENT and now - row.send_at > LATE_AFTER
    finally:
        composer.submit(rt.db.dispose_thread)
        composer.shutdown(wait=True, cancel_futures=False)
        mailer.transport.close()
    return PassResult(len(claimed), sent, retrying, failed, late)


def _digests(rt: Runtime, rows: list[Any]) -> tuple[list[Any], dict[int, Held]]:
    """Return the rows to send, and for each digest among them the messages it lists.

    A digest with nothing left to list (its messages' deadlines were met meanwhile) is
    cancelled, not sent.
    """
    found: dict[int, Held] = {}
    empty = []
    if not any(row.kind == DIGEST for row in rows):
        return rows, found
    with rt.db.read() as conn:
        for row in rows:
            if row.kind == DIGEST:
                items = held_items(conn, row.recipient)
                if items:
                    found[row.id] = Held(items)
                else:
                    empty.append(row)
    if empty:
        with rt.db.write() as conn:
            for row in empty:
                conn.execute(
                    update(outbox).where(_still_claimed(row)).values(status=Status.CANCELLED)
                )
    gone = {row.id for row in empty}
    return [row for row in rows if row.id not in gone], found


def _build(
    rt: Runtime, mailer: Mailer, row: Any, now: datetime, cache: PassCache, held: Held | None
) -> Outgoing:
    mid = message_id(row.key, mailer.sender)
    if held is not None:
        message = compose_digest(rt, mailer, row, held, mid, now, cache)
    else:
        message = compose(rt, mailer, row, mid, now, now - row.send_at > LATE_AFTER, cache)
    return Outgoing.from_message(message, mailer.sender, row.recipient, now)


def send_due(rt: Runtime, stopping: Callable[[], bool] | None = None) -> PassResult:
    """Send everything due now, batch after batch, until a batch comes back short.

    First the timer transitions due are fired (napflow.services.timers): the notices they
    queue go out in the same pass. ``stopping`` is asked after each batch: when it says
    yes, the rest waits for the next pass (a daemon told to stop finishes its batch, not
    the whole backlog).
    """
    require_writer(rt)
    fire_due_timers(rt)
    total = PassResult()
    while True:
        result = dispatch_due(rt)
        total += result
        if result.claimed < rt.settings.batch_size or (stopping is not None and stopping()):
            return total


def _deliver(
    rt: Runtime,
    mailer: Mailer,
    row: Any,
    now: datetime,
    built: Future[Outgoing],
    held: Held | None,
) -> str:
    is_late = now - row.send_at > LATE_AFTER
    mid = message_id(row.key, mailer.sender)
    try:
        message = built.result()
    except Exception as exc:  # a row whose message cannot be built will never send
        _finish(rt, row, now, held, status=Status.FAILED, last_error=f"cannot build message: {exc}")
        return Status.FAILED
    current = _still_ours(rt, row)
    if current is None:
        return LOST
    row = current
    try:
        _send(mailer, message)
    except DeliveryError as exc:
        if exc.permanent or row.attempts >= rt.settings.max_attempts:
            reason = (
                exc.answer
                if exc.permanent
                else (f"gave up after {row.attempts} attempts: {exc.answer}")
            )
            _finish(rt, row, now, held, status=Status.FAILED, last_error=reason)
            return Status.FAILED
        _finish(
            rt,
            row,
            now,
            held,
            status=Status.PENDING,
            last_error=exc.answer,
            next_attempt_at=now + _backoff(row.attempts),
        )
        return Status.PENDING
    if not _finish(
        rt, row, now, held, status=Status.SENT, sent_at=now, message_id=mid, late=is_late
    ):
        return LOST  # sent, but meanwhile taken over: the other dispatcher counts it
    return Status.SENT


def _send(mailer: Mailer, message: Outgoing) -> None:
    """Send ``message``; any failure leaves as a DeliveryError.

    One message's trouble never ends the pass: a library's surprise is retried like a
    temporary failure.
    """
    try:
        mailer.transport.send(message)
    except DeliveryError:
        raise
    except Exception as exc:
        raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc


def next_due(rt: Runtime) -> datetime | None:
    """Return when the next pending row or timer falls due (for the daemon's wake-up)."""
    with rt.db.read() as conn:
        mail = conn.execute(
            select(outbox.c.next_attempt_at)
            .where(outbox.c.status == Status.PENDING)
            .order_by(outbox.c.next_attempt_at)
            .limit(1)
        ).scalar()
    timer = next_timer(rt)
    return min((t for t in (mail, timer) if t is not None), default=None)
