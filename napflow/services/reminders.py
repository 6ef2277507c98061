"""Reading the outbox: what was sent, what failed, what will go out when."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from napflow import inputs
from napflow.errors import InputError, NotFoundError, RefusedError
from napflow.i18n import N_, _, ngettext
from napflow.ledger.record import Kind
from napflow.runtime import Runtime
from napflow.services._outbox import CHANGE, DIGEST, DRAFT, ESCALATION, NOTICE, REMINDER
from napflow.services._records import append, load_head
from napflow.services._visibility import load_viewer, visible_clause, visible_plan
from napflow.services.access import require_admin
from napflow.storage.schema import Status, deadlines, outbox, people, plans
from napflow.timezones import to_local

STATUSES = (
    Status.PENDING,
    Status.HELD,
    Status.SENDING,
    Status.SENT,
    Status.FAILED,
    Status.CANCELLED,
)


@dataclass(frozen=True)
class MessageView:
    """One outbox row, with its send time in the recipient's own zone."""

    id: int
    plan: str
    kind: str
    rung: str
    recipient: str
    deadline: str | None
    send_at: datetime
    local_send_at: str
    timezone: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
    message_id: str | None

    @property
    def what(self) -> str:
        """Say what the message is, in the reader's language ("reminder before-21d")."""
        return message_label(self.kind, self.rung)


def message_label(kind: str, rung: str) -> str:
    """Say what an outbox message is, in the reader's language, without workflow ids."""
    before = _BEFORE.fullmatch(rung)
    if kind == REMINDER and before:
        n = int(before[1])
        return ngettext("reminder before-%(n)dd", "reminder before-%(n)dd", n) % {"n": n}
    number = _ESCALATION.fullmatch(rung)
    if kind == ESCALATION and number:
        return _("escalation escalation-%(n)d") % {"n": int(number[1])}
    if kind == NOTICE:
        return _("notice of an action")
    said = _SAID.get((kind, rung))
    return _(said) if said else f"{kind} {rung}"


#: the messages whose rung is one of a few words, as people read them
_SAID = {
    (DRAFT, "restarted"): N_("draft restarted"),
    (CHANGE, "moved"): N_("change moved"),
    (CHANGE, "cancelled"): N_("change cancelled"),
    (DIGEST, "daily"): N_("daily digest"),
}
#: the rungs of reminders and escalations (napflow.services._outbox)
_BEFORE = re.compile(r"before-(\d+)d")
_ESCALATION = re.compile(r"escalation-(\d+)")


def _query() -> Any:
    return (
        select(
            outbox,
            plans.c.key.label("plan_key"),
            plans.c.timezone.label("plan_zone"),
            people.c.timezone.label("person_zone"),
            deadlines.c.title.label("deadline_title"),
        )
        .join(plans, plans.c.id == outbox.c.plan_id)
        .outerjoin(people, people.c.email == outbox.c.recipient)
        .outerjoin(deadlines, deadlines.c.id == outbox.c.deadline_id)
        .order_by(outbox.c.send_at, outbox.c.id)
    )


def _view(row: Any) -> MessageView:
    zone = row.person_zone or row.plan_zone
    return MessageView(
        id=row.id,
        plan=row.plan_key,
        kind=row.kind,
        rung=row.rung,
        recipient=row.recipient,
        deadline=row.deadline_title,
        send_at=row.send_at,
        local_send_at=to_local(row.send_at, zone).strftime("%Y-%m-%d %H:%M %Z"),
        timezone=zone,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        sent_at=row.sent_at,
        message_id=row.message_id,
    )


def list_messages(
    rt: Runtime,
    status: str | None = None,
    key: str | None = None,
    *,
    viewer: str | None = None,
    limit: int | None = None,
) -> list[MessageView]:
    """Return outbox rows (of one status, of one plan), in send order; the first ``limit``.

    Only of the plans ``viewer`` sees (None: the operator, who sees every plan).
    """
    if status is not None and status not in STATUSES:
        raise InputError(f"There is no status {status!r}; statuses: {', '.join(STATUSES)}.")
    query = _query()
    if status is not None:
        query = query.where(outbox.c.status == status)
    with rt.db.read() as conn:
        who = load_viewer(conn, viewer)
        if key is not None:
            query = query.where(
                outbox.c.plan_id == visible_plan(conn, who, inputs.plan_key(key)).id
            )
        else:
            query = query.where(visible_clause(who))
        return [_view(r) for r in conn.execute(query.limit(limit))]


def preview_messages(rt: Runtime, days: int) -> list[MessageView]:
    """Return what will go out in the next ``days`` days (and anything overdue), in order."""
    if days < 0:
        raise InputError(f"--days must be 0 or more, not {days}.")
    until = rt.clock.now() + timedelta(days=days)
    query = _query().where(outbox.c.status == Status.PENDING, outbox.c.next_attempt_at <= until)
    with rt.db.read() as conn:
        return [_view(r) for r in conn.execute(query)]


def retry_message(
    rt: Runtime, message: int, actor: str | None = None, comment: str | None = None
) -> MessageView:
    """Send a message that failed for good again: it goes on the next pass.

    Administrators only (``actor`` None: the operator). Recorded in its plan's history with
    the error it failed with, in the same transaction. A digest is not sent again itself:
    the messages it listed failed with it, and each is sent again on its own.
    """
    comment = inputs.comment(comment)
    with rt.db.write() as conn:
        now = rt.clock.now()
        who = require_admin(conn, actor, N_("Cannot send messages again as %(actor)s: %(reason)s."))
        row = conn.execute(select(outbox).where(outbox.c.id == message)).first()
        if row is None:
            raise NotFoundError(
                _("There is no message %(id)d among the reminders and notices.") % {"id": message}
            )
        if row.kind == DIGEST:
            raise RefusedError(
                _(
                    "Message %(id)d is a daily digest; send again the messages it listed "
                    "(they failed with it)."
                )
                % {"id": message}
            )
        if row.status != Status.FAILED:
            raise RefusedError(
                _("Message %(id)d is %(status)s; only a message that failed can be sent again.")
                % {"id": message, "status": _(_STATUS_WORDS.get(row.status, row.status))}
            )
        _still_wanted(conn, row)
        requeued = conn.execute(
            update(outbox)
            .where(outbox.c.id == row.id, outbox.c.status == Status.FAILED)
            .values(
                status=Status.PENDING,
                attempts=0,
                next_attempt_at=now,
                claimed_at=None,
                last_error=None,
            )
        )
        if requeued.rowcount != 1:  # another administrator sent it again a moment ago
            raise RefusedError(
                _("Message %(id)d was sent again meanwhile by someone else.") % {"id": message}
            )
        payload = {
            "mail": row.kind,
            "rung": row.rung,
            "recipient": row.recipient,
            "outbox": row.key,
            "error": row.last_error,
        }
        append(
            conn,
            load_head(conn, row.plan_id),
            audit_key=rt.secrets.audit_key,
            kind=Kind.MAIL_REQUEUED,
            at=now,
            actor=who,
            comment=comment,
            payload=payload,
        )
        return _view(conn.execute(_query().where(outbox.c.id == row.id)).one())


def _still_wanted(conn: Any, row: Any) -> None:
    """Refuse to send again what napflow would no longer send at all.

    A reminder or escalation of a deadline met or cancelled since, anything to someone
    deactivated since, a mail asking to act on a draft that a newer one replaced.
    """
    person = conn.execute(
        select(people.c.deactivated_at).where(people.c.email == row.recipient)
    ).first()
    if person is not None and person.deactivated_at is not None:
        raise RefusedError(
            _("Message %(id)d is to %(email)s, who was deactivated; it is not sent again.")
            % {"id": row.id, "email": row.recipient}
        )
    if row.kind in (REMINDER, ESCALATION) and row.deadline_id is not None:
        status = conn.execute(
            select(deadlines.c.status).where(deadlines.c.id == row.deadline_id)
        ).scalar()
        if status != Status.PENDING:
            raise RefusedError(
                _("Message %(id)d reminds of a deadline that is %(status)s; it is not sent again.")
                % {"id": row.id, "status": _(_DEADLINE_WORDS.get(status, str(status)))}
            )
    if row.kind == DRAFT:
        version = ((row.payload or {}).get("draft") or {}).get("version")
        current = conn.execute(
            select(plans.c.draft_version).where(plans.c.id == row.plan_id)
        ).scalar()
        if version != current:
            raise RefusedError(
                _(
                    "Message %(id)d asks to act on draft v%(version)s, which draft "
                    "v%(current)s replaced; it is not sent again."
                )
                % {"id": row.id, "version": version, "current": current}
            )


#: the statuses of a deadline a reminder can no longer be sent for, as a refusal names them
_DEADLINE_WORDS = {Status.MET: N_("met"), Status.CANCELLED: N_("cancelled")}
#: the statuses of a message, as a refusal names them
_STATUS_WORDS = {
    Status.PENDING: N_("waiting to be sent"),
    Status.SENDING: N_("being sent"),
    Status.SENT: N_("sent already"),
    Status.CANCELLED: N_("cancelled, not to be sent"),
    Status.HELD: N_("held for a daily digest"),
}
