"""Reading the outbox: what was sent, what failed, what will go out when."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from napflow import inputs
from napflow.errors import InputError
from napflow.i18n import N_, _, ngettext
from napflow.runtime import Runtime
from napflow.services._outbox import CHANGE, DRAFT, ESCALATION, NOTICE, REMINDER
from napflow.services._visibility import load_viewer, visible_clause, visible_plan
from napflow.storage.schema import Status, deadlines, outbox, people, plans
from napflow.timezones import to_local

STATUSES = (Status.PENDING, Status.SENDING, Status.SENT, Status.FAILED, Status.CANCELLED)


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
        before = _BEFORE.fullmatch(self.rung)
        if self.kind == REMINDER and before:
            n = int(before[1])
            return ngettext("reminder before-%(n)dd", "reminder before-%(n)dd", n) % {"n": n}
        number = _ESCALATION.fullmatch(self.rung)
        if self.kind == ESCALATION and number:
            return _("escalation escalation-%(n)d") % {"n": int(number[1])}
        if self.kind == NOTICE:
            return _("notice %(trigger)s") % {"trigger": self.rung}
        said = _SAID.get((self.kind, self.rung))
        return _(said) if said else f"{self.kind} {self.rung}"


#: the messages whose rung is one of a few words, as people read them
_SAID = {
    (DRAFT, "restarted"): N_("draft restarted"),
    (CHANGE, "moved"): N_("change moved"),
    (CHANGE, "cancelled"): N_("change cancelled"),
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
    rt: Runtime, status: str | None = None, key: str | None = None, *, viewer: str | None = None
) -> list[MessageView]:
    """Return outbox rows (of one status, of one plan), in send order.

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
        return [_view(r) for r in conn.execute(query)]


def preview_messages(rt: Runtime, days: int) -> list[MessageView]:
    """Return what will go out in the next ``days`` days (and anything overdue), in order."""
    if days < 0:
        raise InputError(f"--days must be 0 or more, not {days}.")
    until = rt.clock.now() + timedelta(days=days)
    query = _query().where(outbox.c.status == Status.PENDING, outbox.c.next_attempt_at <= until)
    with rt.db.read() as conn:
        return [_view(r) for r in conn.execute(query)]
