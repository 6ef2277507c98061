"""Turning one outbox row into a finished e-mail, in its reader's language and time zone.

Every mail says which plan, what happened or is due and when (in the deadline's zone and,
when it differs, the reader's), what the reader can do about it (their own actions, as
links), who to ask, and links to the plan and to the draft or deadline it is about;
deadline mails carry the deadline as an .ics file. The reader's language is theirs, else
the plan's, else English; the whole mail is built inside ``use_locale`` of it.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import escape
from sqlalchemy import Connection, select

from napflow.documents.compare import excerpts
from napflow.errors import NapflowError
from napflow.i18n import AVAILABLE, SOURCE, _, format_date, format_list, use_locale
from napflow.inputs import country_name, email_address
from napflow.notifications.mailer import Attachment, Mailer, Rendered
from napflow.runtime import Runtime
from napflow.services._digest import Held
from napflow.services._mail_cache import Contact, PassCache, Reader
from napflow.services._mail_phrases import (
    at_time,
    for_reader,
    next_step,
    short_date,
    state_title,
    when,
)
from napflow.services._outbox import CHANGE, DIGEST, DRAFT, ESCALATION, NOTICE, REMINDER
from napflow.storage.schema import deadlines
from napflow.timezones import to_local
from napflow.workflow.calendar import due_instant
from napflow.workflow.definition import WorkflowDefinition

__all__ = ["PassCache", "calendar_fields", "compose", "compose_digest", "reader_locale"]


def reader_locale(reader: Reader, plan: Any) -> str:
    """Return the language to write to ``reader`` in: theirs, else the plan's, else English.

    A language napflow has no catalogue for is passed over for the next.
    """
    for wanted in (reader.locale, plan.locale):
        if wanted in AVAILABLE:
            return str(wanted)
    return SOURCE


def _url(rt: Runtime, path: str) -> str:
    return rt.settings.base_url + path


def _plan_url(rt: Runtime, key: str, rest: str = "") -> str:
    """Return the address of plan ``key``'s page (``rest`` after it), the key URL-encoded.

    A key is checked when it is typed; one written straight into the database with CR/LF
    in it must still make a mail, with a link that ends no header and no calendar line.
    """
    return _url(rt, f"/plans/{quote(key, safe='')}{rest}")


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
        "size": found.size if found else None,
        "url": _plan_url(rt, key, f"/drafts/{version}"),
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
    url = _plan_url(rt, key, f"/drafts/{old}/diff/{new}")
    if found is None or found.comparison is None:
        if found is None:
            reason = _("a version cannot be read here; the comparison on the web shows it.")
        elif found.too_long:
            reason = _("the drafts are too long to summarise in a mail; see the comparison.")
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


def _actions(
    rt: Runtime, definition: WorkflowDefinition, key: str, state: str, triggers: list[str]
) -> list[dict[str, str]]:
    """Return the reader's actions as a mail lists them: each title with its link."""
    return [
        {"title": definition.action_title(t, state), "url": _plan_url(rt, key, f"#do-{t}")}
        for t in triggers
    ]


def _contacts(reader: Reader, found: list[Contact], roles: tuple[str, ...]) -> list[Contact]:
    """Return whom the reader should ask; never themselves.

    The holders of the first of the workflow's contact ``roles`` that someone else holds
    (the NAP's: the coordinators, else the working-group chairs). Only real addresses: one
    written into the database by hand that napflow would refuse (commas, several @) is
    named nowhere, so a reply cannot go to someone it lists.
    """
    others = [c for c in found if c.email != reader.email and _is_address(c.email)]
    for role in roles:
        chosen = [c for c in others if c.role == role]
        if chosen:
            return list({c.email: c for c in chosen}.values())
    return []


def _is_address(email: str) -> bool:
    try:
        return email_address(email) == email
    except NapflowError:
        return False


def _signature(rt: Runtime, definition: WorkflowDefinition) -> str:
    """Return the mail's last line: the site's, else the workflow's, else napflow's own."""
    return (
        rt.settings.mail_signature
        or definition.mail.signature_in()
        or _("napflow, for the %(workflow)s") % {"workflow": definition.title_in()}
    )


def _actor(cache: PassCache, conn: Connection, email: str | None) -> str:
    """Return the name of who did something (an address napflow does not know: its words)."""
    if not email:
        return _("the administrator")
    found = cache.person(conn, email)
    return found.name if found.known else _("someone no longer known to napflow")


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
        reader = cache.person(conn, row.recipient)
        language = reader_locale(reader, plan)
        with use_locale(language):
            context, ics, definition = _context(rt, cache, conn, mailer, row, plan, reader, now)
    # the drafts are read in transactions of their own, after the one above
    record = row.payload or {}
    draft = None
    with use_locale(language):
        if row.kind in (NOTICE, DRAFT):
            draft = context["draft"] = _draft(rt, cache, plan.key, record.get("draft"))
        if row.kind == DRAFT:
            new = record["draft"]["version"]
            context["changes"] = _changes(rt, cache, plan.key, record.get("acted_on"), new)
        context["late"] = _late(rt, cache, row, plan, reader, definition) if late else None
        rendered = _render(mailer, cache, row.kind, language, context, definition.mail.templates)
    contacts = context["contacts"]
    reply_to = (
        (("", rt.settings.mail_reply_to),)
        if rt.settings.mail_reply_to
        else tuple((c.name, c.email) for c in contacts)
    )
    return mailer.build(
        rendered,
        sender=(mailer.sender_name, mailer.sender),
        recipient=(reader.name, row.recipient),
        message_id=message_id,
        date=now,
        ics=ics,
        reply_to=reply_to,
        headers={
            "Content-Language": language,
            "X-Napflow-Plan": plan.key,
            "X-Napflow-Kind": row.kind,
        },
        files=(draft["file"],) if draft and draft["file"] else (),
    )


def compose_digest(
    rt: Runtime,
    mailer: Mailer,
    row: Any,
    held: Held,
    message_id: str,
    now: datetime,
    cache: PassCache | None = None,
) -> Message:
    """Build the daily digest ``row`` listing the held messages ``held.items``.

    Each message is listed by its subject, with its most precise link and what the reader
    can do now (a digest is always later than the events it tells of); the digest is in
    the reader's language (else the first plan's). A message that cannot be written is
    left out and noted in ``held.broken`` (it fails alone); if none can be, this raises.
    """
    cache = cache or PassCache()
    entries = []
    with rt.db.read() as conn:
        reader = cache.person(conn, row.recipient)
        first = cache.plan(conn, held.items[0].plan_id)
        language = reader_locale(reader, first)
        with use_locale(language):
            for item in held.items:
                try:
                    entries.append(_digest_entry(rt, cache, conn, mailer, item, reader, now))
                except Exception as exc:  # this message alone fails, with its reason
                    held.broken[item.id] = f"cannot build message: {exc}"
            if not entries:
                raise NapflowError(_("None of the messages of this digest could be written."))
            definition = rt.catalog.get(first.workflow, first.workflow_version)
            context = {
                "recipient": {"name": reader.name},
                "items": entries,
                "day": format_date(to_local(row.send_at, reader.timezone or first.timezone)),
                "settings_url": _url(rt, "/me"),
                "signature": _signature(rt, definition),
            }
            rendered = mailer.renderer.render(DIGEST, context)
    reply_to = (("", rt.settings.mail_reply_to),) if rt.settings.mail_reply_to else ()
    return mailer.build(
        rendered,
        sender=(mailer.sender_name, mailer.sender),
        recipient=(reader.name, row.recipient),
        message_id=message_id,
        date=now,
        reply_to=reply_to,
        headers={"Content-Language": language, "X-Napflow-Kind": DIGEST},
    )


def _digest_entry(
    rt: Runtime,
    cache: PassCache,
    conn: Connection,
    mailer: Mailer,
    item: Any,
    reader: Reader,
    now: datetime,
) -> dict[str, Any]:
    """Return one held message as its reader's digest lists it, with what they can do now."""
    plan = cache.plan(conn, item.plan_id)
    context, _ics, definition = _context(rt, cache, conn, mailer, item, plan, reader, now)
    record = item.payload or {}
    url = context["plan"]["url"]
    if "deadline" in context:
        url = context["deadline"]["url"]
    elif record.get("draft"):
        version = record["draft"]["version"]
        context["draft"] = {"version": version}
        url = _plan_url(rt, plan.key, f"/drafts/{version}")
    notice = context.get("notice") or {}
    can = None
    if "can" in context:
        now_open = cache.allowed(conn, rt, plan, item.recipient)
        can = _actions(rt, definition, plan.key, plan.state, now_open)
    return {
        "subject": mailer.renderer.subject(item.kind, context, definition.mail.templates),
        "url": url,
        "can": can,
        "comment": notice.get("comment"),
    }


#: stands for the reader's name while a mail is rendered; filled in afterwards (see _render)
_NAME = "\x00reader\x00"


def _render(
    mailer: Mailer,
    cache: PassCache,
    kind: str,
    language: str,
    context: dict[str, Any],
    folder: Path | None,
) -> Rendered:
    """Render ``context``, or reuse the same mail rendered for another reader this pass.

    One event mails many people the same words but for their name (the experts a draft is
    sent to, the members reminded of a session): each distinct mail is rendered once, with
    a stand-in for the name that is then filled in, escaped in the HTML part as Jinja2
    escapes it. Rendering is most of what composing a mail costs, and composing competes
    with sending for the dispatcher's two cores. napflow's own templates use the name in
    the greeting alone; a workflow's own templates may do anything with it (test it, cut
    it, encode it), so their mails are rendered for each reader with the name itself.
    """
    if folder is not None:
        return mailer.renderer.render(kind, context, folder)
    name = context["recipient"]["name"]
    context["recipient"] = {"name": _NAME}
    key = (kind, language, str(folder), json.dumps(context, sort_keys=True, default=_plain))
    found = cache.rendering(key)
    if found is None:
        found = mailer.renderer.render(kind, context, folder)
        cache.keep_rendering(key, found)
    context["recipient"] = {"name": name}
    return Rendered(
        subject=found.subject.replace(_NAME, " ".join(str(name).split())),
        text=found.text.replace(_NAME, name),
        html=found.html.replace(_NAME, str(escape(name))),
    )


def _plain(value: Any) -> Any:
    """Return what stands for a value of a mail's context in the key of its rendering."""
    if isinstance(value, Attachment):
        return f"{value.name}:{len(value.data)}"
    return repr(value)


def _context(
    rt: Runtime,
    cache: PassCache,
    conn: Connection,
    mailer: Mailer,
    row: Any,
    plan: Any,
    reader: Reader,
    now: datetime,
) -> tuple[dict[str, Any], bytes | None, WorkflowDefinition]:
    """Return what the templates of ``row`` are given, its .ics, and the plan's workflow."""
    definition = rt.catalog.get(plan.workflow, plan.workflow_version)
    zone = reader.timezone or plan.timezone
    found = cache.contacts(conn, plan.id, definition)
    contacts = _contacts(reader, found, definition.contact_roles)
    context: dict[str, Any] = {
        "recipient": {"name": reader.name},
        "plan": {
            "key": plan.key,
            "title": plan.title,
            "country_name": country_name(plan.country),
            "state_title": state_title(definition, plan.state),
            "url": _plan_url(rt, plan.key),
        },
        "contacts": contacts,
        "ask": format_list([c.name for c in contacts]) if contacts else None,
        "reply_configured": bool(rt.settings.mail_reply_to),
        "signature": _signature(rt, definition),
        # a late notice lists what its reader could do then, and what they can do now
        "can_then": row.kind in (NOTICE, DRAFT),
    }
    ics = None
    record = row.payload or {}
    if row.kind in (REMINDER, ESCALATION, CHANGE):
        deadline = conn.execute(select(deadlines).where(deadlines.c.id == row.deadline_id)).one()
        kind = definition.deadline_kind(deadline.kind)
        event = kind is not None and kind.type == "event"
        context["deadline"] = {
            "title": definition.deadline_title(deadline.kind, deadline.title),
            "location": deadline.location,
            "when": when(deadline, event),
            "date": short_date(deadline),
            "local_for_you": for_reader(deadline, zone, event),
            "event": event,
            "url": _plan_url(rt, plan.key, f"#deadline-{deadline.id}"),
        }
        context["next_step"] = next_step(definition, kind, row.kind == ESCALATION)
        number = int("".join(ch for ch in row.rung if ch.isdigit()) or 0)
        context["days_before" if row.kind == REMINDER else "number"] = number
        context["change"] = row.rung
        if row.kind != CHANGE:  # what the reader can do about it, as the mail goes
            can = cache.allowed(conn, rt, plan, row.recipient)
            context["can"] = _actions(rt, definition, plan.key, plan.state, can)
        ics = _calendar(
            rt,
            mailer,
            definition,
            deadline,
            plan,
            now,
            event,
            cache.contacts(conn, plan.id, definition),
        )
    elif row.kind == NOTICE:
        state = record["to_state"]
        context["notice"] = {
            "title": definition.action_title(record.get("trigger"), record["from_state"]),
            "actor_name": (
                _("napflow itself")  # a timer transition: nobody did it
                if record.get("by_napflow")
                else _actor(cache, conn, record.get("actor"))
            ),
            "role": definition.role_title(record["role"]) if record.get("role") else None,
            "when": at_time(row.send_at, zone),
            "from_state_title": state_title(definition, record["from_state"]),
            "to_state_title": state_title(definition, state),
            "moved": record["from_state"] != state,
            "comment": record.get("comment"),
        }
        context["can"] = _stored_actions(rt, cache, conn, definition, plan, row, state)
    elif row.kind == DRAFT:
        context["added"] = {
            "by": _actor(cache, conn, record.get("actor")),
            "when": at_time(row.send_at, zone),
            "state_title": state_title(definition, record["state"]),
            "acted_on": record.get("acted_on"),
            "trigger_title": definition.action_title(record.get("trigger"), record["state"]),
            "note": record.get("note"),
        }
        context["can"] = _stored_actions(rt, cache, conn, definition, plan, row, record["state"])
    return context, ics, definition


def _stored_actions(
    rt: Runtime,
    cache: PassCache,
    conn: Connection,
    definition: WorkflowDefinition,
    plan: Any,
    row: Any,
    state: str,
) -> list[dict[str, str]]:
    """Return what the reader could do once the event happened (kept with the message).

    A message queued before napflow kept them is told what is open now.
    """
    record = row.payload or {}
    if "can" in record:
        return _actions(rt, definition, plan.key, state, list(record["can"]))
    can = cache.allowed(conn, rt, plan, row.recipient)
    return _actions(rt, definition, plan.key, plan.state, can)


def _late(
    rt: Runtime,
    cache: PassCache,
    row: Any,
    plan: Any,
    reader: Reader,
    definition: WorkflowDefinition,
) -> dict[str, Any]:
    """Return what a late mail adds: when it was due, and the plan and the reader's actions now."""
    zone = reader.timezone or plan.timezone
    with rt.db.read() as conn:
        can = cache.allowed(conn, rt, plan, row.recipient)
    return {
        "due": at_time(row.send_at, zone),
        "state_title": state_title(definition, plan.state),
        "can": _actions(rt, definition, plan.key, plan.state, can),
    }


def _calendar(
    rt: Runtime,
    mailer: Mailer,
    definition: WorkflowDefinition,
    deadline: Any,
    plan: Any,
    now: datetime,
    event: bool,
    contacts: list[Contact],
) -> bytes:
    fields = calendar_fields(mailer.sender, deadline, plan.key, now, event)
    kind = definition.deadline_kind(deadline.kind)
    title = definition.deadline_title(deadline.kind, deadline.title)
    fields["title"] = f"[{plan.key}] {title}"
    fields["description"] = _("%(deadline)s, plan %(key)s: %(when)s.") % {
        "deadline": title,
        "key": plan.key,
        "when": when(deadline, event),
    }
    fields["description"] += "\n" + _("The plan in napflow: %(url)s") % {
        "url": _plan_url(rt, plan.key)
    }
    fields["url"] = _plan_url(rt, plan.key)
    # the holder of the first contact role the workflow names (the NAP's coordinator), a
    # real address only (one napflow would accept), as for Reply-To
    first = definition.contact_roles[:1]
    coordinators = [c for c in contacts if c.role in first and _is_address(c.email)]
    fields["organizer"] = (coordinators[0].name, coordinators[0].email) if coordinators else None
    fields["alarms"] = [r.days_before for r in kind.rungs] if kind is not None else []
    fields["alarm_text"] = _("%(deadline)s, plan %(key)s") % {"deadline": title, "key": plan.key}
    return mailer.calendar(**fields)


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
        "description": _("%(deadline)s, plan %(key)s: %(when)s.")
        % {"deadline": deadline.title, "key": key, "when": when(deadline, event)},
        "start": start,
        "end": end,
        "location": deadline.location,
        "stamp": now,
        "cancelled": deadline.status == "cancelled",
    }
