"""The history service: what happened to a plan, in order, and the states it went through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, select

from napflow import inputs
from napflow.errors import InputError
from napflow.i18n import N_, _, format_number, ngettext
from napflow.ledger.record import FIELDS, PLACING_KINDS, STATE_KINDS, Kind
from napflow.runtime import Runtime
from napflow.services._visibility import plan_for
from napflow.services.reminders import message_label
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
        """Say in words what the record is about beyond its trigger: comment or role change.

        In the reader's language (English on the command line).
        """
        return self.detail_with()

    def detail_with(self, titles: Mapping[str, str] | None = None) -> str:
        """Return :attr:`detail`, a deadline named by ``titles`` (its title -> as shown).

        A page passes its workflow's deadline kinds' titles in the reader's language
        (napflow.services.workflows.deadline_titles); a title someone gave stays as written.
        """
        payload = self.payload or {}
        if UNREADABLE in payload:  # not JSON: changed behind napflow's back (audit verify)
            return _("unreadable payload %(value)s") % {"value": repr(payload[UNREADABLE])}
        if self.kind == Kind.PLAN_EDITED:
            changes = "; ".join(
                _("%(field)s %(before)s -> %(after)s")
                % {
                    "field": _(_PLAN_FIELDS[name]) if name in _PLAN_FIELDS else name,
                    "before": repr(before),
                    "after": repr(after),
                }
                for name, (before, after) in payload.items()
            )
            return _("plan edited: %(changes)s") % {"changes": changes}
        if self.kind in (Kind.ROLE_GRANTED, Kind.ROLE_REVOKED):
            told = (
                _("granted %(role)s to %(person)s")
                if self.kind == Kind.ROLE_GRANTED
                else _("revoked %(role)s from %(person)s")
            )
            what = told % {"role": payload.get("role"), "person": payload.get("person")}
            return f"{what}: {self.comment}" if self.comment else what
        if self.kind == Kind.CREATED:
            return _("created: %(title)s") % {"title": payload.get("title", "")}
        if self.kind in _DEADLINE_VERBS:
            return self._deadline_detail(payload, titles or {})
        if self.kind == Kind.DRAFT_ADDED:
            told = (
                _("draft v%(version)s added: %(file)s (%(size)s bytes, %(type)s), a new round")
                if payload.get("round") == "restarted"
                else _("draft v%(version)s added: %(file)s (%(size)s bytes, %(type)s)")
            )
            size = payload.get("size")
            what = told % {
                "version": payload.get("draft"),
                "file": payload.get("file_name"),
                "size": format_number(size) if isinstance(size, int) else size,
                "type": payload.get("media_type"),
            }
            return f"{what}: {self.comment}" if self.comment else what
        timer = payload.get("timer")
        if self.kind in (Kind.ACTION, Kind.TRANSITION) and isinstance(timer, dict):
            days = timer.get("after_days")
            if isinstance(days, int):
                return ngettext(
                    "done by napflow itself, %(days)d day after the plan entered this stage",
                    "done by napflow itself, %(days)d days after the plan entered this stage",
                    days,
                ) % {"days": days}
            return _("done by napflow itself, its deadline %(kind)s having passed") % {
                "kind": timer.get("on_missed")
            }
        if self.kind in (Kind.ACTION, Kind.TRANSITION) and isinstance(payload.get("draft"), dict):
            on = _("on draft v%(version)s") % {"version": payload["draft"].get("version")}
            return f"{on}: {self.comment}" if self.comment else on
        if self.kind in (Kind.MAIL_SENT, Kind.MAIL_FAILED):
            told = (
                _("%(mail)s to %(recipient)s sent")
                if self.kind == Kind.MAIL_SENT
                else _("%(mail)s to %(recipient)s failed")
            )
            about = message_label(str(payload.get("mail")), str(payload.get("rung")))
            detail = told % {"mail": about, "recipient": payload.get("recipient")}
            return f"{detail}: {payload.get('error')}" if payload.get("error") else detail
        if self.kind == Kind.MIGRATED:
            moved = payload.get("map") or {}
            told = (
                _("moved from workflow v%(old)s to v%(new)s, state %(state)s as %(mapped)s")
                if moved
                else _("moved from workflow v%(old)s to v%(new)s")
            )
            what = told % {
                "old": payload.get("from_version"),
                "new": self.workflow_version,
                "state": self.from_state,
                "mapped": self.to_state,
            }
            return f"{what}: {self.comment}" if self.comment else what
        if self.kind == Kind.MAIL_REQUEUED:
            about = message_label(str(payload.get("mail")), str(payload.get("rung")))
            what = _("%(mail)s to %(recipient)s sent again") % {
                "mail": about,
                "recipient": payload.get("recipient"),
            }
            return f"{what}: {self.comment}" if self.comment else what
        return self.comment or ""

    def _deadline_detail(self, payload: dict[str, Any], titles: Mapping[str, str]) -> str:
        """Say which deadline, and its dates as they stood after the change."""
        dates = str(payload.get("due_on", ""))
        if payload.get("ends_on"):
            dates = _("%(start)s to %(end)s") % {"start": dates, "end": payload["ends_on"]}
        if payload.get("location"):
            dates = f"{dates}, {payload['location']}"
        title = payload.get("title")
        shown = titles.get(title, title) if isinstance(title, str) else title
        what = _(_DEADLINE_VERBS[self.kind]) % {"title": shown, "dates": dates}
        late = payload.get("late_days")
        if late is not None:
            what += (
                ngettext(", %(days)d day late", ", %(days)d days late", late) % {"days": late}
                if late
                else _(", late the same day")
            )
        return f"{what}: {self.comment}" if self.comment else what


#: the plan's fields a plan edit may change, as a history names them
_PLAN_FIELDS = {"title": N_("title"), "timezone": N_("time zone"), "locale": N_("language")}

#: how a deadline record is told, by its kind
_DEADLINE_VERBS = {
    Kind.DEADLINE_ADDED: N_("deadline added: %(title)s (%(dates)s)"),
    Kind.DEADLINE_MOVED: N_("deadline moved: %(title)s (%(dates)s)"),
    Kind.DEADLINE_CANCELLED: N_("deadline cancelled: %(title)s (%(dates)s)"),
    Kind.DEADLINE_MET: N_("deadline met: %(title)s (%(dates)s)"),
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
            _(
                "%(until_option)s %(until)s is before %(since_option)s %(since)s; give a "
                "period that ends later."
            )
            % {"until_option": "--until", "until": until, "since_option": "--since", "since": since}
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
        query = (
            select(*(history.c[name] for name in _SHOWN))
            .where(history.c.plan_id == plan.id)
            .order_by(history.c.seq)
        )
        if since is not None:
            query = query.where(history.c.at >= local_to_utc(since, time(0, 0), plan.timezone))
        if until is not None:
            query = query.where(history.c.at < day_end(until, plan.timezone))
        rows = conn.execute(query).all()
    # the columns in the order of the record's fields (tests/test_record_fields.py)
    records = [HistoryRecord(*r) for r in rows]
    return PlanHistory(plan.key, plan.timezone, records)


def state_changes(conn: Connection, plan_id: int, before: datetime | None = None) -> Sequence[Any]:
    """Return a plan's creation, transitions and migrations (before ``before``), oldest first."""
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
        .where(history.c.plan_id == plan_id, history.c.kind.in_(sorted(PLACING_KINDS)))
        .order_by(history.c.seq)
    )
    if before is not None:
        query = query.where(history.c.at < before)
    return conn.execute(query).all()
