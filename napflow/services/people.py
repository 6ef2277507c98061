"""Services for people: register them, change their details, and let them leave and return.

Every change is sealed on the site ledger (napflow.services._site_ledger) with who made it:
an administrator (``actor``; None is the operator's CLI). A person who leaves
(:func:`deactivate_person`) keeps every record they made; their sessions and API tokens end
at once, logins, actions and reminders stop until :func:`activate_person`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from napflow import inputs
from napflow.errors import InputError, RefusedError
from napflow.i18n import N_, _
from napflow.ledger.record import SiteKind
from napflow.runtime import Runtime
from napflow.services._digest import release
from napflow.services._outbox import readdress_mail, sync_reminders
from napflow.services._records import load_head, unregistered
from napflow.services._site_ledger import append_site
from napflow.services.access import last_admin_guard, require_admin
from napflow.storage.schema import Status, api_tokens, outbox, people, roles, web_sessions


@dataclass(frozen=True)
class PersonView:
    """A person as shown to users."""

    email: str
    name: str
    timezone: str | None
    #: when they were deactivated; None while active
    deactivated_at: datetime | None = None
    #: the language of their pages (None: their browser's)
    locale: str | None = None
    #: "daily": one mail a day listing their messages (urgent ones still go at once)
    digest: str | None = None

    @property
    def active(self) -> bool:
        """True unless the person was deactivated."""
        return self.deactivated_at is None


def _view(row: Row[Any]) -> PersonView:
    return PersonView(row.email, row.name, row.timezone, row.deactivated_at, row.locale, row.digest)


def find_person(conn: Connection, email: str) -> Row[Any]:
    """Return the person row for ``email`` or refuse, saying how to add them."""
    row = conn.execute(select(people).where(people.c.email == email)).first()
    if row is None:
        raise unregistered(email)
    return row


def add_person(
    rt: Runtime,
    email: str,
    name: str,
    timezone: str | None = None,
    locale: str | None = None,
    actor: str | None = None,
) -> PersonView:
    """Register a person who can then be given roles on plans (administrators only)."""
    email = inputs.email_address(email)
    name = inputs.person_name(name)
    zone = inputs.timezone(timezone) if timezone is not None else None
    language = inputs.locale(locale) if locale is not None else None
    with rt.db.write() as conn:
        now = rt.clock.now()  # once the write has begun: the ledgers' order
        who = require_admin(conn, actor, N_("Cannot add people as %(actor)s: %(reason)s."))
        existing = conn.execute(select(people.c.name).where(people.c.email == email)).first()
        if existing is not None:
            raise RefusedError(
                _("%(email)s is already registered, as %(name)s.")
                % {"email": email, "name": existing.name}
            )
        conn.execute(
            insert(people).values(
                email=email, name=name, timezone=zone, locale=language, created_at=now
            )
        )
        append_site(
            conn,
            audit_key=rt.secrets.audit_key,
            kind=SiteKind.PERSON_ADDED,
            at=now,
            actor=who,
            payload={"person": email, "name": name, "timezone": zone},
        )
    return PersonView(email=email, name=name, timezone=zone, locale=language)


def list_people(rt: Runtime, actor: str | None = None) -> list[PersonView]:
    """Return everyone registered, by e-mail address (administrators only)."""
    with rt.db.read() as conn:
        require_admin(conn, actor, N_("Cannot list people as %(actor)s: %(reason)s."))
        rows = conn.execute(select(people).order_by(people.c.email)).all()
    return [_view(r) for r in rows]


def names_of(rt: Runtime, emails: set[str]) -> dict[str, str]:
    """Return the names of the people with ``emails`` (those napflow knows), by address.

    For pages that show what people did on a plan the reader sees: the history names them.
    """
    if not emails:
        return {}
    with rt.db.read() as conn:
        rows = conn.execute(
            select(people.c.email, people.c.name).where(people.c.email.in_(sorted(emails)))
        )
        return {r.email: r.name for r in rows}


def show_person(rt: Runtime, email: str, actor: str | None = None) -> PersonView:
    """Return one person (administrators, or the person themselves)."""
    email = inputs.email_address(email)
    with rt.db.read() as conn:
        if actor is None or inputs.email_address(actor) != email:
            require_admin(
                conn, actor, N_("Cannot see other people's details as %(actor)s: %(reason)s.")
            )
        return _view(find_person(conn, email))


def _resync_plans(rt: Runtime, conn: Connection, person_id: int, now: datetime) -> None:
    """Make the reminders of every plan the person holds a role on match who is there now."""
    plan_ids = conn.execute(
        select(roles.c.plan_id).where(roles.c.person_id == person_id).distinct()
    ).scalars()
    for plan_id in sorted(plan_ids):
        plan = load_head(conn, plan_id)
        sync_reminders(conn, rt.catalog.get(plan.workflow, plan.workflow_version), plan, now)


def _cancel_mail_to(conn: Connection, email: str) -> None:
    conn.execute(
        update(outbox)
        .where(outbox.c.recipient == email, outbox.c.status.in_((Status.PENDING, Status.HELD)))
        .values(status=Status.CANCELLED)
    )


def edit_person(
    rt: Runtime,
    email: str,
    *,
    name: str | None = None,
    timezone: str | None = None,
    new_email: str | None = None,
    locale: str | None = None,
    digest: str | None = None,
    actor: str | None = None,
) -> PersonView:
    """Change a person's name, time zone, e-mail address, language or mail choice.

    Recorded on the site ledger, except the language and the mail choice: preferences of
    the reader, which the person may also change themselves (:func:`choose_language`,
    :func:`choose_digest`). ``timezone`` "" clears their own zone (their reminders follow
    each plan's), ``locale`` "" their own language; ``digest`` is "daily" or "none".
    Records they made keep the address they were made under; pending mail moves to the new
    one.
    """
    email = inputs.email_address(email)
    if (
        name is None
        and timezone is None
        and new_email is None
        and locale is None
        and (digest is None)
    ):
        raise InputError(
            _(
                "Nothing to change for %(email)s: give %(name)s, %(zone)s, %(address)s, "
                "%(language)s or %(digest)s."
            )
            % {
                "email": email,
                "name": "--name",
                "zone": "--timezone",
                "address": "--email",
                "language": "--locale",
                "digest": "--digest",
            }
        )
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = inputs.person_name(name)
    if timezone is not None:
        values["timezone"] = inputs.timezone(timezone) if timezone.strip() else None
    if new_email is not None:
        values["email"] = inputs.email_address(new_email)
    if locale is not None:
        values["locale"] = inputs.locale(locale) if locale.strip() else None
    if digest is not None:
        values["digest"] = inputs.digest(digest)
    with rt.db.write() as conn:
        now = rt.clock.now()  # once the write has begun: the ledgers' order
        who = require_admin(conn, actor, N_("Cannot edit people as %(actor)s: %(reason)s."))
        row = find_person(conn, email)
        changed = {k: [row._mapping[k], v] for k, v in values.items() if row._mapping[k] != v}
        if "email" in changed:
            taken = conn.execute(select(people.c.id).where(people.c.email == values["email"]))
            if taken.first() is not None:
                raise RefusedError(
                    _("Cannot change %(email)s to %(new)s: it is taken.")
                    % {"email": email, "new": values["email"]}
                )
        if changed:
            conn.execute(
                update(people)
                .where(people.c.id == row.id)
                .values({k: v[1] for k, v in changed.items()})
            )
        if "digest" in changed and changed["digest"][1] is None:
            release(conn, email, now)  # what waited for the digest goes now, one by one
        recorded = {k: v for k, v in changed.items() if k not in _PREFERENCES}
        if recorded:
            append_site(
                conn,
                audit_key=rt.secrets.audit_key,
                kind=SiteKind.PERSON_EDITED,
                at=now,
                actor=who,
                payload={"person": email, **recorded},
            )
            if "email" in changed:
                readdress_mail(conn, email, values["email"])
            if "timezone" in changed:
                _resync_plans(rt, conn, row.id, now)
        return _view(find_person(conn, values.get("email", email) if "email" in changed else email))


#: what a person may change for themselves, not recorded on the site ledger
_PREFERENCES = ("locale", "digest")


def choose_digest(rt: Runtime, email: str, digest: str) -> PersonView:
    """Set how often a person gets mail: "daily" (a digest) or "none" (each as it happens).

    The person themselves; not recorded on the site ledger (like their language). Turning
    the digest off sends what was waiting for it at once.
    """
    email = inputs.email_address(email)
    chosen = inputs.digest(digest)
    with rt.db.write() as conn:
        row = find_person(conn, email)
        conn.execute(update(people).where(people.c.id == row.id).values(digest=chosen))
        if chosen is None and row.digest is not None:
            release(conn, email, rt.clock.now())
        return _view(find_person(conn, email))


def choose_language(rt: Runtime, email: str, locale: str) -> PersonView:
    """Set the language of a person's own pages and mail (the person themselves).

    Not recorded on the site ledger: like a session, it changes what the person reads,
    never what they may do.
    """
    email = inputs.email_address(email)
    language = inputs.locale(locale)
    with rt.db.write() as conn:
        row = find_person(conn, email)
        conn.execute(update(people).where(people.c.id == row.id).values(locale=language))
        return _view(find_person(conn, email))


def deactivate_person(
    rt: Runtime, email: str, actor: str | None = None, comment: str | None = None
) -> PersonView:
    """Let a person leave: sessions and tokens end now; logins, actions and reminders stop.

    Their roles and every record they made stay. The last active administrator cannot be
    deactivated (the web app and API would have none).
    """
    email = inputs.email_address(email)
    comment = inputs.comment(comment)
    with rt.db.write() as conn:
        now = rt.clock.now()  # once the write has begun: the ledgers' order
        who = require_admin(conn, actor, N_("Cannot deactivate people as %(actor)s: %(reason)s."))
        row = find_person(conn, email)
        if row.deactivated_at is not None:
            raise RefusedError(
                _("%(email)s was already deactivated on %(date)s.")
                % {"email": email, "date": f"{row.deactivated_at:%Y-%m-%d}"}
            )
        last_admin_guard(
            conn,
            row.id,
            email,
            N_(
                "Cannot deactivate %(email)s: %(email)s is the last active administrator, and "
                "the web app and API would have none. Grant admin to someone else first."
            ),
        )
        conn.execute(update(people).where(people.c.id == row.id).values(deactivated_at=now))
        conn.execute(delete(web_sessions).where(web_sessions.c.person_id == row.id))
        conn.execute(delete(api_tokens).where(api_tokens.c.person_id == row.id))
        _cancel_mail_to(conn, email)
        append_site(
            conn,
            audit_key=rt.secrets.audit_key,
            kind=SiteKind.PERSON_DEACTIVATED,
            at=now,
            actor=who,
            comment=comment,
            payload={"person": email},
        )
        return _view(find_person(conn, email))


def activate_person(
    rt: Runtime, email: str, actor: str | None = None, comment: str | None = None
) -> PersonView:
    """Undo :func:`deactivate_person`: they may log in again and are reminded again."""
    email = inputs.email_address(email)
    comment = inputs.comment(comment)
    with rt.db.write() as conn:
        now = rt.clock.now()  # once the write has begun: the ledgers' order
        who = require_admin(conn, actor, N_("Cannot activate people as %(actor)s: %(reason)s."))
        row = find_person(conn, email)
        if row.deactivated_at is None:
            raise RefusedError(
                _("%(email)s is active; there is nothing to undo.") % {"email": email}
            )
        conn.execute(update(people).where(people.c.id == row.id).values(deactivated_at=None))
        append_site(
            conn,
            audit_key=rt.secrets.audit_key,
            kind=SiteKind.PERSON_ACTIVATED,
            at=now,
            actor=who,
            comment=comment,
            payload={"person": email},
        )
        _resync_plans(rt, conn, row.id, now)
        return _view(find_person(conn, email))
