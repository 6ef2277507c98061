"""Turning one outbox row into a finished e-mail: the context the templates get.

Every reminder says which plan, what is due, when (in the deadline's zone and, when it
differs, the reader's), what happens next and who to contact; deadline mails carry the
deadline as an .ics file.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from datetime import date, datetime
from email.message import Message
from typing import Any

from sqlalchemy import Connection, select

from napflow.documents.compare import excerpts
from napflow.errors import NapflowError
from napflow.inputs import country_name
from napflow.notifications.mailer import Attachment, Mailer
from napflow.runtime import Runtime
from napflow.services._outbox import CHANGE, DRAFT, ESCALATION, NOTICE, REMINDER
from napflow.services._plan_facts import load_facts
from napflow.services.drafts import DraftDiff, DraftView, diff_drafts, find_draft, read_draft
from napflow.storage.schema import deadlines, people, plans, roles
from napflow.timezones import to_local
from napflow.workflow.calendar import due_instant
from napflow.workflow.deadline_kinds import DeadlineKindDef
from napflow.workflow.definition import WorkflowDefinition
from napflow.workflow.facts import HOLDERS, PlanFacts


def _day(d: date) -> str:
    return f"{d:%A} {d.day} {d:%B %Y}"


def _when(row: Any, event: bool) -> str:
    """Say when a deadline is, in its own zone: 'Thursday 31 December 2015, end of day (...)'."""
    first, last = row.due_on, row.ends_on or row.due_on
    if last != first:
        head = (
            f"{first:%A} {first.day}"
            if (first.year, first.month) == (last.year, last.month)
            else _day(first)
        )
        span = f"{head} to {_day(last)}"
    else:
        span = _day(first)
    if row.at_time:
        return f"{span}, {'from' if event else 'at'} {row.at_time} ({row.timezone})"
    return f"{span}{'' if event else ', end of day'} ({row.timezone})"


def _for_reader(row: Any, zone: str, event: bool) -> str | None:
    if zone == row.timezone or (event and not row.at_time):
        return None
    local = to_local(row.due_at, zone)
    return f"{_day(local.date())} at {local:%H:%M} ({zone})"


def _roles_text(names: tuple[str, ...]) -> str:
    return " and ".join(n.replace("_", " ") for n in names)


def _next_step(
    definition: WorkflowDefinition, kind: DeadlineKindDef | None, key: str, escalation: bool
) -> str:
    if kind is None:
        return "See the plan in napflow."
    if escalation and kind.escalation is not None:
        return (
            f"Notices continue every {kind.escalation.every_days} days until the "
            "deadline is met or cancelled."
        )
    parts = []
    if kind.met_by_state:
        state = definition.state(kind.met_by_state).title.lower()
        parts.append(f"The deadline is met when {key} is {state}.")
    if kind.relative and kind.start_on_entering:
        undone = {r.unless_done for r in kind.rungs if r.unless_done}
        if undone:
            parts.append(f"Once you {' and '.join(sorted(undone))}, these reminders stop.")
        parts.append("The window closes when the plan moves on.")
    if kind.type == "event":
        parts.append("This is a meeting on the calendar; the .ics file adds it to yours.")
    if kind.escalation is not None:
        parts.append(
            f"If it is missed, the {_roles_text(kind.escalation.to)} will be told "
            f"the morning after and every {kind.escalation.every_days} days until "
            "it is met."
        )
    return " ".join(parts) or "See the plan in napflow."


def _state_title(definition: WorkflowDefinition, state: str) -> str:
    """Return a state's title (its id if the workflow no longer has it)."""
    try:
        return definition.state(state).title
    except KeyError:
        return state


def _title(definition: WorkflowDefinition, trigger: str | None, state: str) -> str:
    """Return the title of ``trigger`` fired in ``state`` (its id if the workflow lacks it).

    One trigger may have a title per state (the NAP's two "endorse"s).
    """
    found = definition.transition_for(state, trigger or "") or next(
        (t for t in definition.transitions if t.trigger == trigger), None
    )
    return found.title if found else str(trigger)


def _person(conn: Connection, email: str) -> tuple[str, str | None]:
    row = conn.execute(
        select(people.c.name, people.c.timezone).where(people.c.email == email)
    ).first()
    return (row.name, row.timezone) if row else (email, None)


def _contacts(conn: Connection, plan_id: int) -> list[dict[str, str]]:
    rows = conn.execute(
        select(people.c.name, people.c.email)
        .join(roles, roles.c.person_id == people.c.id)
        .where(roles.c.plan_id == plan_id, roles.c.role == "coordinator")
        .order_by(people.c.email)
    )
    return [{"name": r.name, "email": r.email} for r in rows]


#: the longest texts (in words) a draft mail summarises what changed in
MAIL_COMPARE_WORDS = 20_000
#: how many drafts' bytes a dispatch pass keeps for the next messages attaching them
_FILES_KEPT = 2


class PassCache:
    """What one dispatch pass reads once for the many messages of the same plans.

    A pass lasts seconds; a plan changed meanwhile by another process is shown as it was
    when the pass began, like any message composed a moment before it is sent.
    """

    def __init__(self) -> None:
        self._plans: dict[int, Any] = {}
        self._contacts: dict[int, list[dict[str, str]]] = {}
        self._facts: dict[int, PlanFacts] = {}
        self._people: dict[str, tuple[str, str | None]] = {}
        self._diffs: dict[tuple[str, int, int], DraftDiff | None] = {}
        #: the drafts' bytes of the last few messages only (a pass may mail many plans)
        self._files: OrderedDict[tuple[str, int], Attachment | None] = OrderedDict()
        self._drafts: dict[tuple[str, int], DraftView | None] = {}

    def prefetch(self, rt: Runtime, emails: set[str]) -> None:
        """Read the names and zones of a batch's recipients in one query."""
        with rt.db.read() as conn:
            rows = conn.execute(
                select(people.c.email, people.c.name, people.c.timezone).where(
                    people.c.email.in_(sorted(emails))
                )
            )
            self._people.update({r.email: (r.name, r.timezone) for r in rows})

    def person(self, conn: Connection, email: str) -> tuple[str, str | None]:
        """Return a person's name and zone (the address itself for someone unknown)."""
        if email not in self._people:
            self._people[email] = _person(conn, email)
        return self._people[email]

    def plan(self, conn: Connection, plan_id: int) -> Any:
        """Return the plan row."""
        if plan_id not in self._plans:
            self._plans[plan_id] = conn.execute(select(plans).where(plans.c.id == plan_id)).one()
        return self._plans[plan_id]

    def contacts(self, conn: Connection, plan_id: int) -> list[dict[str, str]]:
        """Return the plan's coordinators, to name as contacts."""
        if plan_id not in self._contacts:
            self._contacts[plan_id] = _contacts(conn, plan_id)
        return self._contacts[plan_id]

    def allowed(self, conn: Connection, rt: Runtime, plan: Any, email: str) -> list[str]:
        """Return the triggers ``email`` may fire on the plan now."""
        engine = rt.catalog.engine(plan.workflow)
        base = self._facts.get(plan.id)
        if base is None:
            base = self._facts[plan.id] = load_facts(
                conn, plan, engine.needs(plan.state) | {HOLDERS}, listing=True
            )
        held = frozenset(role for role, who in base.holders.items() if email in who)
        return engine.allowed(dataclasses.replace(base, actor=email, actor_roles=held))

    def diff(self, rt: Runtime, key: str, old: int, new: int) -> DraftDiff | None:
        """Return what changed from draft ``old`` to ``new`` (None: a draft is missing).

        Texts of more than MAIL_COMPARE_WORDS words are not compared here (the web's
        comparison page does): the time grows with the square of the words changed, and
        the dispatcher must not hold a batch of reminders for it.
        """
        if (key, old, new) not in self._diffs:
            try:
                self._diffs[key, old, new] = diff_drafts(
                    rt, key, old, new, max_words=MAIL_COMPARE_WORDS
                )
            except NapflowError:  # gone, or its bytes were changed: the mail says less
                self._diffs[key, old, new] = None
        return self._diffs[key, old, new]

    def draft(self, rt: Runtime, key: str, version: int) -> DraftView | None:
        """Return draft ``version`` of plan ``key`` (None: there is no such draft)."""
        if (key, version) not in self._drafts:
            try:
                self._drafts[key, version] = find_draft(rt, key, version)
            except NapflowError:
                self._drafts[key, version] = None
        return self._drafts[key, version]

    def file(self, rt: Runtime, key: str, version: int) -> Attachment | None:
        """Return draft ``version`` to attach, if it is no larger than the mail limit.

        Bytes that no longer match their sealed digest are not sent (the link is).
        """
        if (key, version) in self._files:
            self._files.move_to_end((key, version))
        else:
            found = self.draft(rt, key, version)
            self._files[key, version] = _attachment(rt, found) if found else None
            while len(self._files) > _FILES_KEPT:
                self._files.popitem(last=False)
        return self._files[key, version]


def _attachment(rt: Runtime, found: DraftView) -> Attachment | None:
    if found.size > rt.settings.mail_attach_max_mb << 20:
        return None
    try:
        _found, chunks = read_draft(rt, found.plan, found.version)
        return Attachment(found.file_name, found.media_type, b"".join(chunks))
    except NapflowError:  # its bytes no longer match the sealed digest: not sent
        return None


def _url(rt: Runtime, path: str) -> str:
    return rt.settings.base_url + path


def _draft(rt: Runtime, cache: PassCache, key: str, bound: dict[str, Any] | None) -> Any:
    """Return what a mail says of the draft a record is about: its link and file.

    A draft that cannot be found (a forecast's copy of the database holds no drafts) is
    still named, by the version and digest the record sealed.
    """
    if not bound:
        return None
    version = bound["version"]
    found = cache.draft(rt, key, version)
    file = cache.file(rt, key, version) if found is not None else None
    return {
        "version": version,
        "sha256": bound["sha256"],
        "file_name": found.file_name if found else None,
        "size": f"{found.size:,}" if found else None,
        "url": _url(rt, f"/plans/{key}/drafts/{version}"),
        "attached": file is not None,
        "file": file,
    }


#: how many passages around changes a draft mail shows (the web page shows them all)
_PASSAGES = 5


def _changes(rt: Runtime, cache: PassCache, key: str, old: int | None, new: int) -> Any:
    """Return what a draft mail says changed since the version its reader acted on."""
    if not old or old >= new:
        return None
    found = cache.diff(rt, key, old, new)
    url = _url(rt, f"/plans/{key}/drafts/{old}/diff/{new}")
    if found is None or found.comparison is None:
        if found is None:
            reason = "a version cannot be read here; the comparison on the web shows it."
        elif found.too_long:
            reason = "the drafts are too long to summarise in a mail; see the comparison."
        else:
            reason = found.reason or ""
        return {"url": url, "reason": reason, "passages": [], "more": False}
    comparison = found.comparison
    passages = excerpts(comparison, limit=_PASSAGES + 1)  # one more: are there more?
    return {
        "url": url,
        "reason": None,
        "inserted": comparison.inserted,
        "deleted": comparison.deleted,
        "passages": [[(c.op, c.text) for c in p] for p in passages[:_PASSAGES]],
        "more": len(passages) > _PASSAGES,
    }


def compose(
    rt: Runtime,
    mailer: Mailer,
    row: Any,
    message_id: str,
    now: datetime,
    late: bool,
    cache: PassCache | None = None,
) -> Message:
    """Build the e-mail for outbox ``row``, dated ``now`` (the virtual time in simulations)."""
    cache = cache or PassCache()
    with rt.db.read() as conn:
        plan = cache.plan(conn, row.plan_id)
        definition = rt.catalog.get(plan.workflow)
        name, person_zone = cache.person(conn, row.recipient)
        zone = person_zone or plan.timezone
        context: dict[str, Any] = {
            "recipient": {"name": name, "email": row.recipient},
            "plan": {
                "key": plan.key,
                "title": plan.title,
                "country": plan.country,
                "country_name": country_name(plan.country),
                "state": plan.state,
                "state_title": definition.state(plan.state).title,
                "url": _url(rt, f"/plans/{plan.key}"),
            },
            "contacts": cache.contacts(conn, plan.id),
            "late": late,
            "scheduled": f"{to_local(row.send_at, zone):%Y-%m-%d %H:%M} ({zone})",
        }
        ics = None
        draft: dict[str, Any] | None = None
        if row.kind in (REMINDER, ESCALATION, CHANGE):
            deadline = conn.execute(
                select(deadlines).where(deadlines.c.id == row.deadline_id)
            ).one()
            kind = definition.deadline_kind(deadline.kind)
            event = kind is not None and kind.type == "event"
            context["deadline"] = {
                "title": deadline.title,
                "location": deadline.location,
                "when": _when(deadline, event),
                "local_for_you": _for_reader(deadline, zone, event),
            }
            context["next_step"] = _next_step(definition, kind, plan.key, row.kind == ESCALATION)
            number = int("".join(ch for ch in row.rung if ch.isdigit()) or 0)
            context["days_before" if row.kind == REMINDER else "number"] = number
            context["change"] = row.rung
            ics = _calendar(mailer, deadline, plan.key, now, event)
        elif row.kind == NOTICE:
            record = row.payload or {}
            actor_name, _zone = cache.person(conn, record.get("actor") or "")
            context["notice"] = {
                "title": _title(definition, record.get("trigger"), record["from_state"]),
                "actor_name": actor_name,
                "role": (record.get("role") or "").replace("_", " "),
                "when": f"{to_local(row.send_at, zone):%Y-%m-%d %H:%M} ({zone})",
                "from_state_title": definition.state(record["from_state"]).title,
                "to_state_title": definition.state(record["to_state"]).title,
                "comment": record.get("comment"),
            }
            open_now = cache.allowed(conn, rt, plan, row.recipient)
            context["next_step"] = (
                f"You can now: {', '.join(open_now)}."
                if open_now
                else "Nothing is waiting for you on this plan now."
            )
        elif row.kind == DRAFT:
            record = row.payload or {}
            adder, _zone = cache.person(conn, record.get("actor") or "")
            context["added"] = {
                "by": adder if record.get("actor") else "the administrator",
                "when": f"{to_local(row.send_at, zone):%Y-%m-%d %H:%M} ({zone})",
                "state_title": _state_title(definition, record["state"]),
                "acted_on": record.get("acted_on"),
                "trigger_title": _title(definition, record.get("trigger"), record["state"]),
                "note": record.get("note"),
            }
    # the drafts are read in transactions of their own, after the one above
    if row.kind in (NOTICE, DRAFT):
        record = row.payload or {}
        draft = context["draft"] = _draft(rt, cache, plan.key, record.get("draft"))
    if row.kind == DRAFT:
        new = record["draft"]["version"]
        context["changes"] = _changes(rt, cache, plan.key, record.get("acted_on"), new)
    rendered = mailer.renderer.render(row.kind, context)
    return mailer.build(
        rendered,
        sender=(mailer.sender_name, mailer.sender),
        recipient=(name, row.recipient),
        message_id=message_id,
        date=now,
        ics=ics,
        headers={"X-Napflow-Plan": plan.key, "X-Napflow-Kind": row.kind},
        files=(draft["file"],) if draft and draft["file"] else (),
    )


def _calendar(mailer: Mailer, deadline: Any, key: str, now: datetime, event: bool) -> bytes:
    return mailer.calendar(**calendar_fields(mailer.sender, deadline, key, now, event))


def calendar_fields(
    sender: str, deadline: Any, key: str, now: datetime, event: bool
) -> dict[str, Any]:
    """Return the calendar entry of a deadline row (the same UID in mails and feeds)."""
    timed = deadline.at_time is not None
    start: date | datetime = deadline.due_at if timed else deadline.due_on
    end: date | datetime | None = deadline.ends_on
    if timed and deadline.ends_on is not None:  # a timed event runs to its last day's end
        end = due_instant(deadline.ends_on, None, deadline.timezone)
    return {
        "uid": f"napflow-deadline-{deadline.id}@{sender.rpartition('@')[2]}",
        "sequence": deadline.sequence,
        "title": f"[{key}] {deadline.title}",
        "description": f"{deadline.title} for plan {key}, {_when(deadline, event)}.",
        "start": start,
        "end": end,
        "location": deadline.location,
        "stamp": now,
        "cancelled": deadline.status == "cancelled",
    }
