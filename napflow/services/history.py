"""The history service: what happened to a plan, in order, and the states it went through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, select

from napflow import inputs
from napflow.errors import InputError
from napflow.ledger.record import FIELDS, STATE_KINDS, Kind
from napflow.runtime import Runtime
from napflow.services._visibility import plan_for
from napflow.storage.schema import UNREADABLE, history
from napflow.workflow.calendar import day_end, local_to_utc


@dataclass(frozen=True)
class HistoryRecord:
    """One record of a plan's history, with its payload parsed.

    Its fields are the sealed fields of :class:`napflow.ledger.record.Record` but the chain
    link (tests/test_record_fields.py checks that the two lists agree).
    """

    seq: int
    kind: str
    trigger: str | None
    from_state: str | None
    to_state: str | None
    actor: str | None
    role: str | None
    comment: str | None
    at: datetime
    workflow: str
    workflow_version: int
    payload: dict[str, Any] | None

    @property
    def detail(self) -> str:
        """Say in words what the record is about beyond its trigger: comment or role change."""
        payload = self.payload or {}
        if UNREADABLE in payload:  # not JSON: changed behind napflow's back (audit verify)
            return f"unreadable payload {payload[UNREADABLE]!r}"
        if self.kind == Kind.PLAN_EDITED:
            names = {"title": "title", "timezone": "time zone"}
            return "plan edited: " + "; ".join(
                f"{names.get(name, name)} {before!r} -> {after!r}"
                for name, (before, after) in payload.items()
            )
        if self.kind in (Kind.ROLE_GRANTED, Kind.ROLE_REVOKED):
            granted = self.kind == Kind.ROLE_GRANTED
            verb, to = ("granted", "to") if granted else ("revoked", "from")
            what = f"{verb} {payload.get('role')} {to} {payload.get('person')}"
            return f"{what}: {self.comment}" if self.comment else what
        if self.kind == Kind.CREATED:
            return f"created: {payload.get('title', '')}"
        if self.kind in _DEADLINE_VERBS:
            # which deadline, and its dates as they stood after the change
            dates = payload.get("due_on", "")
            if payload.get("ends_on"):
                dates = f"{dates} to {payload['ends_on']}"
            where = f", {payload['location']}" if payload.get("location") else ""
            what = f"{_DEADLINE_VERBS[self.kind]} {payload.get('title')} ({dates}{where})"
            late = payload.get("late_days")
            if late is not None:
                what += f", {late} day{'s' * (late != 1)} late" if late else ", late the same day"
            return f"{what}: {self.comment}" if self.comment else what
        if self.kind == Kind.DRAFT_ADDED:
            restarted = ", a new round" if payload.get("round") == "restarted" else ""
            what = (
                f"draft v{payload.get('draft')} added: {payload.get('file_name')} "
                f"({payload.get('size'):,} bytes, {payload.get('media_type')}){restarted}"
            )
            return f"{what}: {self.comment}" if self.comment else what
        if self.kind in (Kind.ACTION, Kind.TRANSITION) and isinstance(payload.get("draft"), dict):
            on = f"on draft v{payload['draft'].get('version')}"
            return f"{on}: {self.comment}" if self.comment else on
        if self.kind in (Kind.MAIL_SENT, Kind.MAIL_FAILED):
            verb = "sent" if self.kind == Kind.MAIL_SENT else "failed"
            about = f"{payload.get('mail')} {payload.get('rung')}".strip()
            detail = f"{about} to {payload.get('recipient')} {verb}"
            return f"{detail}: {payload.get('error')}" if payload.get("error") else detail
        return self.comment or ""


#: how a deadline record is told, by its kind
_DEADLINE_VERBS = {
    Kind.DEADLINE_ADDED: "deadline added:",
    Kind.DEADLINE_MOVED: "deadline moved:",
    Kind.DEADLINE_CANCELLED: "deadline cancelled:",
    Kind.DEADLINE_MET: "deadline met:",
}

#: what a history view shows of a record: its sealed fields but the link to the one before
_SHOWN = tuple(name for name in FIELDS if name != "prev_hash")


@dataclass(frozen=True)
class PlanHistory:
    """A plan's history, with the plan's time zone for showing local times."""

    key: str
    timezone: str
    records: list[HistoryRecord]

    def current_round(self) -> list[HistoryRecord]:
        """Return the actions recorded since the plan entered its current state.

        Or since a new draft restarted the round there. Meaningful for a whole history
        (not one cut to a period).
        """
        start = max(
            (
                r.seq
                for r in self.records
                if r.kind in STATE_KINDS
                or (r.kind == Kind.DRAFT_ADDED and (r.payload or {}).get("round") == "restarted")
            ),
            default=0,
        )
        return [r for r in self.records if r.kind == Kind.ACTION and r.seq > start]


def check_period(since: date | None, until: date | None) -> None:
    """Refuse a period that ends before it starts."""
    if since is not None and until is not None and until < since:
        raise InputError(
            f"--until {until} is before --since {since}; give a period that ends later."
        )


def plan_history(
    rt: Runtime,
    key: str,
    since: date | None = None,
    until: date | None = None,
    *,
    viewer: str | None = None,
) -> PlanHistory:
    """Return the history records of plan ``key``, oldest first.

    ``since`` and ``until`` keep the records of those days (both included) in the plan's zone.
    ``viewer`` (None: the operator) must see the plan, or it is answered as missing.
    """
    key = inputs.plan_key(key)
    check_period(since, until)
    with rt.db.read() as conn:
        plan = plan_for(conn, viewer, key)
        query = select(history).where(history.c.plan_id == plan.id).order_by(history.c.seq)
        if since is not None:
            query = query.where(history.c.at >= local_to_utc(since, time(0, 0), plan.timezone))
        if until is not None:
            query = query.where(history.c.at < day_end(until, plan.timezone))
        rows = conn.execute(query).all()
    records = [HistoryRecord(**{name: getattr(r, name) for name in _SHOWN}) for r in rows]
    return PlanHistory(plan.key, plan.timezone, records)


def state_changes(conn: Connection, plan_id: int, before: datetime | None = None) -> Sequence[Any]:
    """Return a plan's creation and transitions (before ``before``), oldest first."""
    query = (
        select(
            history.c.seq,
            history.c.at,
            history.c.kind,
            history.c.trigger,
            history.c.from_state,
            history.c.to_state,
            history.c.actor,
            history.c.comment,
        )
        .where(history.c.plan_id == plan_id, history.c.kind.in_(sorted(STATE_KINDS)))
        .order_by(history.c.seq)
    )
    if before is not None:
        query = query.where(history.c.at < before)
    return conn.execute(query).all()
