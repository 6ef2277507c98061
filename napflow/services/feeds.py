"""Calendar feeds: every deadline of a plan, or of a person's plans, as a subscribable .ics.

Calendar programs cannot log in, so a feed's URL carries a secret token: an HMAC of the
plan key (or the person's id) under a key from ``NAPFLOW_SECRET_KEY``, or else generated
once and kept with the database. Anyone with the URL sees the deadlines, nothing else; a
wrong token is answered like a missing feed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from napflow import inputs
from napflow.errors import ConflictError, InputError, NotFoundError
from napflow.i18n import N_, _
from napflow.runtime import Runtime
from napflow.services._messages import calendar_fields
from napflow.services._records import load_plan, unregistered
from napflow.services._visibility import load_viewer, plan_for, visible_clause
from napflow.services.access import require_admin
from napflow.services.accounts import same_token
from napflow.storage.database import Database
from napflow.storage.schema import app_secrets, deadlines, people, plans

_NAME = "calendar-feeds"
_NO_FEED = N_("There is no such calendar feed (or its link is no longer valid).")


#: the feed key of each database once read (it never changes once made)
_KEYS: weakref.WeakKeyDictionary[Database, bytes] = weakref.WeakKeyDictionary()


def _secret(rt: Runtime) -> bytes:
    if rt.secrets.secret_key:
        return rt.secrets.secret_key
    known = _KEYS.get(rt.db)
    if known is None:
        known = _KEYS[rt.db] = _stored_secret(rt)
    return known


def _stored_secret(rt: Runtime) -> bytes:
    """Read the key from the database, making it there first if there is none yet."""
    with rt.db.read() as conn:
        found = conn.execute(select(app_secrets.c.value).where(app_secrets.c.name == _NAME))
        value = found.scalar()
    if value is None:
        try:
            with rt.db.write() as conn:
                value = secrets.token_hex(32)
                conn.execute(
                    insert(app_secrets).values(name=_NAME, value=value, created_at=rt.clock.now())
                )
        except ConflictError:  # another process made it meanwhile: use theirs
            return _stored_secret(rt)
    return str(value).encode("utf-8")


#: how a feed's resets are kept in app_secrets: one row per reset, numbered, never changed
#: (the app's database role only inserts there), the newest one counting
_RESET = "feed-reset:"


def _resets(subject: str) -> Any:
    """Return the query of ``subject``'s resets, newest first."""
    return (
        select(app_secrets.c.name, app_secrets.c.value)
        .where(app_secrets.c.name.startswith(f"{_RESET}{subject}:", autoescape=True))
        .order_by(app_secrets.c.name.desc())
    )


def _generation(conn: Connection, subject: str) -> str:
    """Return what the feed of ``subject`` was last reset to ("" if never reset)."""
    newest = conn.execute(_resets(subject).limit(1)).first()
    return str(newest.value) if newest is not None else ""


def _token(key: bytes, conn: Connection, subject: str) -> str:
    """Return the token of ``subject``'s feed: an HMAC of it, and of its last reset if any.

    ``key`` is :func:`_secret`'s, read before the caller's transaction began.
    """
    generation = _generation(conn, subject)
    signed = f"{subject}#{generation}" if generation else subject  # never reset: as it was
    return hmac.new(key, signed.encode("utf-8"), hashlib.sha256).hexdigest()[:40]


def _personal_token(key: bytes, conn: Connection, plan: str, person: int) -> str:
    """Return one person's token for plan ``plan``'s feed: ``<person id>.<hmac>``.

    Resetting the plan's feed or the person's ends it (both resets are signed into it).
    """
    generations = f"{_generation(conn, f'plan:{plan}')}#{_generation(conn, f'person:{person}')}"
    signed = f"plan:{plan}:person:{person}#{generations}"
    return f"{person}.{hmac.new(key, signed.encode('utf-8'), hashlib.sha256).hexdigest()[:40]}"


def plan_feed_url(rt: Runtime, key: str, email: str | None = None) -> str:
    """Return the path of plan ``key``'s feed, token included.

    With ``email``, that person's own link to it: it works while they see the plan (a
    role or a site grant) and are active, so a link kept after leaving a plan is dead.
    Without, the plan's shared link (the operator's, for a calendar of the whole office).
    """
    key = inputs.plan_key(key)
    secret = _secret(rt)
    with rt.db.read() as conn:
        if email is None:
            token = _token(secret, conn, f"plan:{key}")
        else:
            person = conn.execute(
                select(people.c.id).where(people.c.email == inputs.email_address(email))
            ).scalar()
            if person is None:
                raise unregistered(email)
            token = _personal_token(secret, conn, key, int(person))
        return f"/calendar/plans/{key}.ics?token={token}"


def person_feed_url(rt: Runtime, email: str) -> str:
    """Return the path of the feed of every plan ``email`` has a role on."""
    email = inputs.email_address(email)
    secret = _secret(rt)
    with rt.db.read() as conn:
        person = conn.execute(select(people.c.id).where(people.c.email == email)).scalar()
        if person is None:
            raise unregistered(email)
        return f"/calendar/people/{person}-{_token(secret, conn, f'person:{person}')}.ics"


@dataclass(frozen=True)
class FeedReset:
    """A feed whose link was reset: whose it is, and its new link (the old one is dead)."""

    feed: str
    url: str


def reset_feed(rt: Runtime, plan_or_email: str, actor: str | None = None) -> FeedReset:
    """Give the feed of a plan (by key) or of a person (by e-mail address) a new link.

    The old link stops working at once (someone it was shared with by mistake sees no
    more); every other feed keeps its link. An administrator's change (``actor``; None:
    the operator).
    """
    is_person = "@" in plan_or_email
    with rt.db.write() as conn:
        require_admin(conn, actor, N_("Cannot reset calendar feed links as %(actor)s: %(reason)s."))
        if is_person:
            email = inputs.email_address(plan_or_email)
            person = conn.execute(select(people.c.id).where(people.c.email == email)).scalar()
            if person is None:
                raise unregistered(email)
            subject, feed = f"person:{person}", email
        else:
            feed = load_plan(conn, inputs.plan_key(plan_or_email)).key
            subject = f"plan:{feed}"
        newest = conn.execute(_resets(subject).limit(1)).first()
        number = int(newest.name.rpartition(":")[2]) + 1 if newest is not None else 1
        # two resets at once make the same name: one of them is refused as a conflict
        conn.execute(
            insert(app_secrets).values(
                name=f"{_RESET}{subject}:{number:06d}",
                value=secrets.token_hex(16),
                created_at=rt.clock.now(),
            )
        )
    url = person_feed_url(rt, feed) if is_person else plan_feed_url(rt, feed)
    return FeedReset(feed, url)


def _feed(rt: Runtime, conn: Connection, name: str, plan_ids: list[int]) -> bytes:
    rows = conn.execute(
        select(deadlines, plans.c.key.label("plan_key"), plans.c.workflow, plans.c.workflow_version)
        .join(plans, plans.c.id == deadlines.c.plan_id)
        .where(deadlines.c.plan_id.in_(plan_ids))
        .order_by(deadlines.c.due_at, deadlines.c.id)
    ).all()
    mailer = rt.mailer
    if mailer is None or mailer.feed is None:
        raise NotFoundError(_("Calendar feeds are not available in this process."))
    now = rt.clock.now()
    events: list[dict[str, Any]] = []
    for row in rows:
        kind = rt.catalog.get(row.workflow, row.workflow_version).deadline_kind(row.kind)
        is_event = kind is not None and kind.type == "event"
        events.append(calendar_fields(mailer.sender, row, row.plan_key, now, is_event))
    return mailer.feed(name, events)


def plan_feed(rt: Runtime, key: str, token: str) -> bytes:
    """Return plan ``key``'s deadlines as a calendar, if ``token`` is its feed's."""
    try:
        key = inputs.plan_key(key)
    except InputError:
        raise NotFoundError(_(_NO_FEED)) from None
    secret = _secret(rt)
    person_text, dot, _mac = token.partition(".")
    with rt.db.read() as conn:
        if dot and person_text.isdigit() and len(person_text) < 10:
            # a person's own link: theirs, and they still see the plan
            person = int(person_text)
            if not same_token(_personal_token(secret, conn, key, person), token):
                raise NotFoundError(_(_NO_FEED))
            email = conn.execute(
                select(people.c.email).where(
                    people.c.id == person, people.c.deactivated_at.is_(None)
                )
            ).scalar()
            if email is None:
                raise NotFoundError(_(_NO_FEED))
            try:
                plan = plan_for(conn, email, key)
            except NotFoundError:
                raise NotFoundError(_(_NO_FEED)) from None
        else:
            if not same_token(_token(secret, conn, f"plan:{key}"), token):
                raise NotFoundError(_(_NO_FEED))
            plan = load_plan(conn, key)
        return _feed(rt, conn, f"napflow {plan.key}", [plan.id])


def person_feed(rt: Runtime, person_id: int, token: str) -> bytes:
    """Return the deadlines of every plan the person sees, if ``token`` is theirs.

    The plans they hold a role on and those a site grant of theirs covers; nothing for
    someone deactivated (answered like a missing feed).
    """
    secret = _secret(rt)
    with rt.db.read() as conn:
        if not same_token(_token(secret, conn, f"person:{person_id}"), token):
            raise NotFoundError(_(_NO_FEED))
        found = conn.execute(
            select(people.c.email).where(
                people.c.id == person_id, people.c.deactivated_at.is_(None)
            )
        ).scalar()
        if found is None:
            raise NotFoundError(_(_NO_FEED))
        visible = visible_clause(load_viewer(conn, found))
        plan_ids = conn.execute(select(plans.c.id).where(visible)).scalars()
        return _feed(rt, conn, "napflow: my plans", list(plan_ids))
