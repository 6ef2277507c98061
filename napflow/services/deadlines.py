"""Deadline services: add, list, move and cancel deadlines, and what transitions do to them.

Every change is recorded in the plan's history and re-syncs the plan's reminders in the same
transaction, so a moved or cancelled deadline never leaves a stale reminder queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, insert, select, update

from napflow import inputs
from napflow.errors import InputError, NapflowError, NotFoundError, RefusedError
from napflow.i18n import N_, _, ngettext
from napflow.inputs import parse_day
from napflow.ledger.record import Kind
from napflow.runtime import Runtime
from napflow.services._authority import authorised_role
from napflow.services._outbox import (
    cancel_deadline_rows,
    queue_change_notices,
    queue_notices,
    sync_reminders,
)
from napflow.services._records import PlanHead, PlanRow, append, load_plan
from napflow.services._timers import sync_timers
from napflow.services._visibility import is_visible, load_viewer, visible_clause, visible_plan
from napflow.storage.database import WRITER
from napflow.storage.schema import Status, deadlines, plans
from napflow.timezones import to_local
from napflow.workflow.calendar import due_instant
from napflow.workflow.deadline_kinds import DeadlineKindDef
from napflow.workflow.definition import WorkflowDefinition
from napflow.workflow.engine import Engine


@dataclass(frozen=True)
class DeadlineView:
    """A deadline as shown to people and scripts; ``status`` says missed/passed when late."""

    id: int
    plan: str
    kind: str
    title: str
    location: str | None
    due_on: date
    ends_on: date | None
    at_time: str | None
    timezone: str
    due_at: datetime
    status: str
    sequence: int
    #: for a deadline met after it was due: by how many days (in its own zone)
    late_days: int | None = None

    @property
    def status_text(self) -> str:
        """Say the status as people read it: "met late, 2 days after" for a late one.

        In the reader's language (``status`` itself is the value scripts read).
        """
        if self.late_days is not None:
            if not self.late_days:
                return _("met late, the same day")
            return ngettext(
                "met late, %(days)d day after", "met late, %(days)d days after", self.late_days
            ) % {"days": self.late_days}
        said = _STATUS_TEXT.get(self.status)
        return _(said) if said else self.status


#: a deadline's status as people read it (the values are the same words, for scripts)
_STATUS_TEXT = {
    "pending": N_("pending"),
    "met": N_("met"),
    "missed": N_("missed"),
    "passed": N_("passed"),
    "cancelled": N_("cancelled"),
}


def _status(row: Row[Any], kind: DeadlineKindDef | None, now: datetime) -> str:
    if row.status != Status.PENDING or row.due_at >= now:
        return str(row.status)
    return "passed" if kind is not None and kind.type == "event" else "missed"


def _view(
    row: Row[Any], key: str, definition: WorkflowDefinition | None, now: datetime
) -> DeadlineView:
    kind = definition.deadline_kind(row.kind) if definition else None
    return DeadlineView(
        id=row.id,
        plan=key,
        kind=row.kind,
        title=definition.deadline_title(row.kind, row.title) if definition else row.title,
        location=row.location,
        due_on=row.due_on,
        ends_on=row.ends_on,
        at_time=row.at_time,
        timezone=row.timezone,
        due_at=row.due_at,
        status=_status(row, kind, now),
        sequence=row.sequence,
        late_days=_late_days(row),
    )


def _late_days(row: Row[Any]) -> int | None:
    """Return how many days after its due time a met deadline was met (None: in time)."""
    if row.status != Status.MET or row.updated_at <= row.due_at:
        return None
    return int((to_local(row.updated_at, row.timezone).date() - row.due_on).days)


def _parse_time(value: str | None) -> time | None:
    if value is None:
        return None
    try:
        parsed = time.fromisoformat(value.strip())
    except ValueError as exc:
        raise InputError(
            _("%(value)r is not a time of day; write it as HH:MM.") % {"value": value}
        ) from exc
    if parsed.tzinfo is not None:
        raise InputError(
            _(
                "%(value)r carries an offset; give the local time as HH:MM and the zone with "
                "%(option)s."
            )
            % {"value": value, "option": "--timezone"}
        )
    return parsed.replace(second=0, microsecond=0)


#: how a deadline's date and end date are refused (not a date; out of range)
_DATE = (
    N_("The date %(value)r is not a date; write it as YYYY-MM-DD."),
    N_("The date %(value)s is out of range: years %(first)d-%(last)d."),
)
_END_DATE = (
    N_("The end date %(value)r is not a date; write it as YYYY-MM-DD."),
    N_("The end date %(value)s is out of range: years %(first)d-%(last)d."),
)


def _parse_date(value: str, refusals: tuple[str, str] = _DATE) -> date:
    return parse_day(value, "", refusals)


def _end_before_start(end: str | None, start: str) -> str:
    return _("The end date %(end)s is before the start date %(start)s.") % {
        "end": end,
        "start": start,
    }


def _record(
    conn: Connection,
    audit_key: bytes | None,
    plan: PlanRow,
    kind: str,
    row: Row[Any] | dict[str, Any],
    now: datetime,
    actor: str | None = None,
    role: str | None = None,
    comment: str | None = None,
) -> PlanHead:
    get = row.get if isinstance(row, dict) else row._mapping.get
    payload = {
        "deadline": get("id"),
        "kind": get("kind"),
        "title": get("title"),
        "due_on": str(get("due_on")),
        "at_time": get("at_time"),
        "timezone": get("timezone"),
        "sequence": get("sequence"),
    }
    due_at = get("due_at")
    if kind == Kind.DEADLINE_MET and due_at is not None and now > due_at:
        # met after it was due: said in the record, as the deadline's own status says it
        local_day = to_local(now, str(get("timezone"))).date()
        payload["late_days"] = (local_day - date.fromisoformat(str(get("due_on")))).days
    if get("ends_on") is not None:
        payload["ends_on"] = str(get("ends_on"))
    if get("location"):
        payload["location"] = get("location")
    return append(
        conn,
        plan,
        audit_key=audit_key,
        kind=kind,
        at=now,
        actor=actor,
        role=role,
        comment=comment,
        payload=payload,
    )


def add_deadline(
    rt: Runtime,
    key: str,
    kind: str,
    on: str,
    *,
    end: str | None = None,
    at: str | None = None,
    timezone: str | None = None,
    title: str | None = None,
    location: str | None = None,
    actor: str | None = None,
    comment: str | None = None,
) -> DeadlineView:
    """Give plan ``key`` a deadline of a kind its workflow declares, with its reminders.

    With ``actor`` the change is made as that person, who must hold a role the workflow
    lets manage deadlines (``[workflow] manage_deadlines``), and is recorded as theirs with
    ``comment``; without, it is an administrator's change (the CLI on the database host).
    """
    key = inputs.plan_key(key)
    actor, comment = _who_and_why(actor, comment)
    due_on, ends_on, at_time = _parse_date(on), None, _parse_time(at)
    if end is not None:
        ends_on = _parse_date(end, _END_DATE)
        if ends_on < due_on:
            raise InputError(_end_before_start(end, on))
    now = rt.clock.now()
    with rt.db.write() as conn:
        plan = load_plan(conn, key)
        definition = rt.catalog.get(plan.workflow, plan.workflow_version)
        role = _authority(
            conn,
            definition,
            plan,
            actor,
            N_("Cannot add a deadline on %(key)s as %(actor)s: %(reason)s."),
        )
        if definition.is_final(plan.state):
            raise RefusedError(
                _("%(key)s is %(state)s, a final state: it takes no new deadlines.")
                % {"key": key, "state": plan.state}
            )
        kind_def = definition.deadline_kind(kind)
        if kind_def is None or kind_def.relative:
            allowed = [k.name for k in definition.deadlines if not k.relative]
            no_kind = (
                _(
                    "Workflow %(workflow)s has no deadline kind %(kind)r to add by hand; "
                    "kinds: %(kinds)s."
                )
                if allowed
                else _(
                    "Workflow %(workflow)s has no deadline kind %(kind)r to add by hand; "
                    "kinds: none."
                )
            )
            raise InputError(
                no_kind % {"workflow": definition.name, "kind": kind, "kinds": ", ".join(allowed)}
            )
        zone = inputs.timezone(timezone) if timezone else plan.timezone
        values = _insert(
            conn,
            plan.id,
            kind,
            inputs.deadline_text(title, "deadline title") if title else kind_def.title,
            inputs.deadline_text(location, "location") if location else None,
            due_on,
            ends_on,
            at_time,
            zone,
            now,
        )
        after = _record(
            conn, rt.secrets.audit_key, plan, Kind.DEADLINE_ADDED, values, now, actor, role, comment
        )
        sync_reminders(conn, definition, after, now)
    return _view_by_id(rt, values["id"])


def _who_and_why(actor: str | None, comment: str | None) -> tuple[str | None, str | None]:
    """Return the acting person's address and the comment, each checked (None if not given)."""
    return (
        inputs.email_address(actor) if actor is not None else None,
        inputs.comment(comment),
    )


def _authority(
    conn: Connection,
    definition: WorkflowDefinition,
    plan: PlanRow,
    actor: str | None,
    refusal: str,
    **values: Any,
) -> str | None:
    """Return the role ``actor`` changes the plan's deadlines as (None: the administrator).

    ``refusal`` is the sentence of the refusal (see :func:`authorised_role`).
    """
    if actor is None:
        return None
    return authorised_role(conn, plan, actor, definition.manage_deadlines, refusal, **values)


def _load_deadline(
    conn: Connection, deadline_id: int, actor: str | None = None
) -> tuple[Row[Any], Row[Any]]:
    """Return a deadline and its plan (locked in a write); refuse an unknown deadline.

    A deadline of a plan ``actor`` does not see is answered as unknown, exactly.
    """
    row = conn.execute(select(deadlines).where(deadlines.c.id == deadline_id)).first()
    if row is not None and actor is not None:
        who = load_viewer(conn, inputs.email_address(actor))
        row = row if is_visible(conn, who, row.plan_id) else None
    if row is None:
        raise NotFoundError(
            _("There is no deadline %(id)d; %(command)s shows them.")
            % {"id": deadline_id, "command": "`napflow deadline list`"},
            missing="deadline",
            key=deadline_id,
        )
    query = select(plans).where(plans.c.id == row.plan_id)
    plan = conn.execute(query.with_for_update() if conn.info.get(WRITER) else query).one()
    return row, plan


def _view_by_id(rt: Runtime, deadline_id: int) -> DeadlineView:
    with rt.db.read() as conn:
        row, plan = _load_deadline(conn, deadline_id)
    return _view(
        row, plan.key, _definition(rt, plan.workflow, plan.workflow_version), rt.clock.now()
    )


def _definition(rt: Runtime, name: str, version: int) -> WorkflowDefinition | None:
    try:
        return rt.catalog.get(name, version)
    except NapflowError:  # a workflow napflow no longer has: its deadlines keep their names
        return None


def move_deadline(
    rt: Runtime,
    deadline_id: int,
    on: str,
    at: str | None = None,
    *,
    end: str | None = None,
    title: str | None = None,
    location: str | None = None,
    actor: str | None = None,
    comment: str | None = None,
) -> DeadlineView:
    """Move a pending deadline to another date (and time); its reminders move with it.

    ``end`` gives a meeting a new last day (else it keeps its length); ``title`` and
    ``location`` change those too. ``actor`` and ``comment`` as for :func:`add_deadline`.
    """
    due_on, at_time = _parse_date(on), _parse_time(at)
    new_end = _parse_date(end, _END_DATE) if end is not None else None
    if new_end is not None and new_end < due_on:
        raise InputError(_end_before_start(end, on))
    new_title = inputs.deadline_text(title, "deadline title") if title is not None else None
    new_location = inputs.deadline_text(location, "location") if location is not None else None
    actor, comment = _who_and_why(actor, comment)
    now = rt.clock.now()
    with rt.db.write() as conn:
        row, plan = _load_deadline(conn, deadline_id, actor)
        definition = rt.catalog.get(plan.workflow, plan.workflow_version)
        role = _authority(
            conn,
            definition,
            plan,
            actor,
            N_("Cannot move deadline %(id)d on %(key)s as %(actor)s: %(reason)s."),
            id=deadline_id,
        )
        if row.status != Status.PENDING:
            raise RefusedError(
                _("Deadline %(id)d is %(status)s; only a pending one moves.")
                % {"id": deadline_id, "status": row.status}
            )
        keep_time = at_time or (_parse_time(row.at_time) if row.at_time else None)
        ends_on = row.ends_on + (due_on - row.due_on) if row.ends_on else None
        if new_end is not None:
            ends_on = new_end
        changes: dict[str, Any] = {
            "due_on": due_on,
            "ends_on": ends_on,
            "at_time": keep_time.strftime("%H:%M") if keep_time else None,
            "due_at": due_instant(due_on, keep_time, row.timezone),
            "sequence": row.sequence + 1,
            "updated_at": now,
        }
        if new_title is not None:
            changes["title"] = new_title
        if new_location is not None:
            changes["location"] = new_location
        conn.execute(update(deadlines).where(deadlines.c.id == row.id).values(**changes))
        cancel_deadline_rows(conn, row.id)
        moved = conn.execute(select(deadlines).where(deadlines.c.id == row.id)).one()
        queue_change_notices(conn, moved, "moved", now)
        moved_row = {**row._asdict(), **changes}
        after = _record(
            conn,
            rt.secrets.audit_key,
            plan,
            Kind.DEADLINE_MOVED,
            moved_row,
            now,
            actor,
            role,
            comment,
        )
        sync_reminders(conn, definition, after, now)
    return _view_by_id(rt, deadline_id)


def cancel_deadline(
    rt: Runtime, deadline_id: int, *, actor: str | None = None, comment: str | None = None
) -> DeadlineView:
    """Cancel a pending deadline and every message still queued for it.

    ``actor`` and ``comment`` as for :func:`add_deadline`.
    """
    actor, comment = _who_and_why(actor, comment)
    now = rt.clock.now()
    with rt.db.write() as conn:
        row, plan = _load_deadline(conn, deadline_id, actor)
        definition = rt.catalog.get(plan.workflow, plan.workflow_version)
        role = _authority(
            conn,
            definition,
            plan,
            actor,
            N_("Cannot cancel deadline %(id)d on %(key)s as %(actor)s: %(reason)s."),
            id=deadline_id,
        )
        if row.status != Status.PENDING:
            raise RefusedError(
                _("Deadline %(id)d is %(status)s already.")
                % {"id": deadline_id, "status": row.status}
            )
        _end(conn, row.id, Status.CANCELLED, now)
        queue_change_notices(conn, row, "cancelled", now)
        _record(
            conn,
            rt.secrets.audit_key,
            plan,
            Kind.DEADLINE_CANCELLED,
            row,
            now,
            actor,
            role,
            comment,
        )
    return _view_by_id(rt, deadline_id)


def _insert(
    conn: Connection,
    plan_id: int,
    kind: str,
    title: str,
    location: str | None,
    due_on: date,
    ends_on: date | None,
    at_time: time | None,
    zone: str,
    now: datetime,
) -> dict[str, Any]:
    """Insert a pending deadline; return its values, id included."""
    values: dict[str, Any] = {
        "plan_id": plan_id,
        "kind": kind,
        "title": title,
        "location": location,
        "due_on": due_on,
        "ends_on": ends_on,
        "at_time": at_time.strftime("%H:%M") if at_time else None,
        "timezone": zone,
        "due_at": due_instant(due_on, at_time, zone),
        "status": Status.PENDING,
        "sequence": 0,
        "created_at": now,
        "updated_at": now,
    }
    inserted = conn.execute(insert(deadlines).values(**values)).inserted_primary_key
    assert inserted is not None
    values["id"] = int(inserted[0])
    return values


def _end(conn: Connection, deadline_id: int, status: str, now: datetime) -> None:
    conn.execute(
        update(deadlines).where(deadlines.c.id == deadline_id).values(status=status, updated_at=now)
    )
    cancel_deadline_rows(conn, deadline_id)


def list_deadlines(
    rt: Runtime,
    key: str | None = None,
    pending_only: bool = False,
    *,
    viewer: str | None = None,
) -> list[DeadlineView]:
    """Return the deadlines of plan ``key`` (or of every plan ``viewer`` sees), soonest first.

    ``pending_only`` keeps those neither met nor cancelled (due, or overdue: "missed").
    ``viewer`` None is the operator, who sees every plan.
    """
    query = (
        select(
            deadlines,
            plans.c.key.label("plan_key"),
            plans.c.workflow,
            plans.c.workflow_version,
        )
        .join(plans, plans.c.id == deadlines.c.plan_id)
        .order_by(deadlines.c.due_at, deadlines.c.id)
    )
    if pending_only:
        query = query.where(deadlines.c.status == Status.PENDING)
    with rt.db.read() as conn:
        who = load_viewer(conn, viewer)
        if key is not None:
            query = query.where(plans.c.id == visible_plan(conn, who, inputs.plan_key(key)).id)
        else:
            query = query.where(visible_clause(who))
        rows = conn.execute(query).all()
    now = rt.clock.now()
    found = {w: _definition(rt, *w) for w in {(r.workflow, r.workflow_version) for r in rows}}
    return [_view(r, r.plan_key, found[r.workflow, r.workflow_version], now) for r in rows]


def list_deadline_rows(
    rt: Runtime,
    conn: Connection,
    plan_ids: list[int],
    where: ColumnElement[bool] | None = None,
) -> dict[int, list[DeadlineView]]:
    """Return the deadlines of the plans ``plan_ids`` (already checked visible), soonest first.

    One query for them all, inside the caller's read: for pages listing many plans.
    ``where`` keeps only the deadlines it holds for.
    """
    if not plan_ids:
        return {}
    query = (
        select(
            deadlines,
            plans.c.key.label("plan_key"),
            plans.c.workflow,
            plans.c.workflow_version,
        )
        .join(plans, plans.c.id == deadlines.c.plan_id)
        .where(deadlines.c.plan_id.in_(plan_ids))
        .order_by(deadlines.c.due_at, deadlines.c.id)
    )
    if where is not None:
        query = query.where(where)
    rows = conn.execute(query).all()
    now = rt.clock.now()
    found = {w: _definition(rt, *w) for w in {(r.workflow, r.workflow_version) for r in rows}}
    by_plan: dict[int, list[DeadlineView]] = {}
    for r in rows:
        by_plan.setdefault(r.plan_id, []).append(
            _view(r, r.plan_key, found[r.workflow, r.workflow_version], now)
        )
    return by_plan


def after_action(
    conn: Connection,
    engine: Engine,
    plan: PlanHead,
    record: dict[str, Any],
    now: datetime,
    audit_key: bytes | None,
) -> PlanHead:
    """Apply what an action does to deadlines and messages; return the plan after it.

    Entering a state meets the deadlines it meets (``met_by_state``) and starts relative
    ones (``start_on_entering``); leaving a state meets the relative deadlines it started.
    Then the transition's notices are queued and the reminders re-synced.
    """
    definition = engine.definition
    if not definition.deadlines and not definition.notices:
        sync_timers(conn, definition, plan, now)
        return plan
    entered = record["to_state"] if record["from_state"] != record["to_state"] else None
    if entered is not None:
        for row in conn.execute(
            select(deadlines).where(
                deadlines.c.plan_id == plan.id, deadlines.c.status == Status.PENDING
            )
        ).all():
            kind = definition.deadline_kind(row.kind)
            if kind is None:
                continue
            left_start = kind.relative and kind.start_on_entering == record["from_state"]
            if kind.met_by_state == entered or left_start:
                _end(conn, row.id, Status.MET, now)
                plan = _record(conn, audit_key, plan, Kind.DEADLINE_MET, row, now)
            elif definition.is_final(entered) and not (kind.type == "event" and row.due_at < now):
                # a withdrawn plan has nothing left to be late for (a session that already
                # took place stays what it was: passed)
                _end(conn, row.id, Status.CANCELLED, now)
                plan = _record(conn, audit_key, plan, Kind.DEADLINE_CANCELLED, row, now)
        for kind in definition.deadlines:
            if kind.relative and kind.start_on_entering == entered and kind.days:
                due_on = to_local(now, plan.timezone).date() + timedelta(days=kind.days)
                values = _insert(
                    conn,
                    plan.id,
                    kind.name,
                    kind.title,
                    None,
                    due_on,
                    None,
                    None,
                    plan.timezone,
                    now,
                )
                plan = _record(conn, audit_key, plan, Kind.DEADLINE_ADDED, values, now)
    queue_notices(conn, engine, plan, record, now)
    sync_reminders(conn, definition, plan, now)
    return plan
