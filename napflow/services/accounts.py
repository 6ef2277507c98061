"""Accounts for the web app and the API: passwords, sessions, API tokens, login limits.

Passwords are stored as argon2id hashes (made again with the current parameters at the
next login when those were weaker), and must be hard to guess (:func:`check_password`).
Sessions and API tokens are random tokens that the browser or the script holds; the
database keeps only their HMAC-SHA256 under the server key, which is never in the
database (``NAPFLOW_SECRET_KEY``, else a key file: see
:func:`napflow.runtime.secrets.server_key_file`). So a copy of the database opens no
session, and a session or token row written into the database by hand opens nothing.
Logging in issues a new session token every time (no fixation); logging out or changing
the password ends sessions on the server, not just in the browser.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import secrets
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, and_, delete, func, insert, not_, or_, select, update
from zxcvbn import zxcvbn  # type: ignore[import-untyped,unused-ignore]

from napflow import inputs
from napflow.errors import InputError, NotAuthenticatedError, NotFoundError, RateLimitedError
from napflow.i18n import N_, _, ngettext
from napflow.ledger.record import SiteKind
from napflow.runtime import Runtime
from napflow.runtime.secrets import read_key_file, server_key_file
from napflow.services._records import unregistered
from napflow.services._site_ledger import append_site
from napflow.services._visibility import load_viewer
from napflow.services.access import require_admin
from napflow.storage.database import Database
from napflow.storage.schema import accounts, api_tokens, login_failures, people, web_sessions

SESSION_HOURS = 12
#: failed logins for one address from one client within the window, then refused for a while
MAX_FAILURES = 5
#: failed logins from one client for any addresses within the window (password spraying)
CLIENT_FAILURES = 30
FAILURE_WINDOW = timedelta(minutes=15)
#: how long an attempt waits for one of the running ones before it (see log_in) to end
#: before it is refused; it waits on while they keep ending, up to MAX_WAIT in all
WAIT_FOR_EARLIER = timedelta(seconds=10)
MAX_WAIT = timedelta(minutes=1)
#: an attempt still running after this long died with its process: it counts as failed
PENDING_STALE = timedelta(minutes=1)
# the first key of napflow's PostgreSQL advisory locks on logins ("nf" "lg")
_LOCK_SPACE = 0x6E666C67
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
#: the lowest zxcvbn score accepted (0 to 4; 3: "safely unguessable", about 10^10 guesses)
MIN_SCORE = 3
#: zxcvbn judges this many characters at a time (it slows down fast on longer input)
_SCORED = 72
_HASHER = PasswordHasher()
_WRONG = N_("Wrong e-mail address or password.")


def prepare_logins() -> None:
    """Make what checking a login needs, so that no login pays for it (the web app's start).

    A login for an address with no account is checked against a hash made once per
    process; made here, the first such login takes as long as any other.
    """
    _dummy_hash()


@functools.cache
def _dummy_hash() -> str:
    """Return the hash checked when an address has no account, so both answers take as long.

    Made on the first login of a process (an argon2 hash costs real time), not at import.
    """
    return _HASHER.hash("napflow: no such account")


@dataclass(frozen=True)
class Session:
    """A logged-in person: the cookie token (only at login), the form token, who it is."""

    token: str
    csrf: str
    email: str
    name: str
    #: the language the person chose (None: the browser's)
    locale: str | None = None


#: the token key of each database once read or made (it never changes while it runs)
_KEYS: weakref.WeakKeyDictionary[Database, bytes] = weakref.WeakKeyDictionary()
#: what the server key is turned into for token digests (the feed links use it otherwise)
_TOKEN_KEY_PURPOSE = b"napflow: digests of session and API tokens"


def _token_key(rt: Runtime) -> bytes:
    """Return the key the digests of session and API tokens are made with.

    Made from ``NAPFLOW_SECRET_KEY`` when set, else from the database's key file (made the
    first time), else, for a database in memory, from a key of this process.
    """
    if rt.secrets.secret_key:
        return hmac.digest(rt.secrets.secret_key, _TOKEN_KEY_PURPOSE, hashlib.sha256)
    known = _KEYS.get(rt.db)
    if known is None:
        path = server_key_file(rt.db.url)
        base = read_key_file(path) if path is not None else secrets.token_bytes(32)
        known = _KEYS[rt.db] = hmac.digest(base, _TOKEN_KEY_PURPOSE, hashlib.sha256)
    return known


def token_digest(rt: Runtime, token: str) -> str:
    """Return what the database keeps of a session or API token: HMAC-SHA256, 64 hex digits.

    Without the server key nobody can tell which token a digest is of, nor make the digest
    of a token of their own.
    """
    return hmac.new(_token_key(rt), token.encode("utf-8"), hashlib.sha256).hexdigest()


def _person_id(conn: Connection, email: str) -> int:
    found = conn.execute(select(people.c.id).where(people.c.email == email)).scalar()
    if found is None:
        raise unregistered(email)
    return int(found)


#: what zxcvbn warns of (its feedback, without the full stop), in the reader's language
_WARNINGS = (
    N_("Straight rows of keys are easy to guess"),
    N_("Short keyboard patterns are easy to guess"),
    N_('Repeats like "aaa" are easy to guess'),
    N_('Repeats like "abcabcabc" are only slightly harder to guess than "abc"'),
    N_('Sequences like "abc" or "6543" are easy to guess'),
    N_("Recent years are easy to guess"),
    N_("Dates are often easy to guess"),
    N_("This is a top-10 common password"),
    N_("This is a top-100 common password"),
    N_("This is a very common password"),
    N_("This is similar to a commonly used password"),
    N_("A word by itself is easy to guess"),
    N_("Names and surnames by themselves are easy to guess"),
    N_("Common names and surnames are easy to guess"),
)


def check_password(password: str, email: str = "", name: str = "") -> None:
    """Refuse a password that is too short, too long, only spaces, or easy to guess.

    The guessing is judged by zxcvbn (a score of at least MIN_SCORE), which also counts the
    person's e-mail address and name, and the word napflow, against the password. The
    one-line message says why and what is accepted; it never repeats the password.
    """
    limits = {"min": MIN_PASSWORD, "max": MAX_PASSWORD, "length": len(password)}
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InputError(
            _(
                "A password must have %(min)d to %(max)d characters; this one has %(length)d. "
                "Choose one that is also hard to guess: a few uncommon words together, say."
            )
            % limits
        )
    if not password.strip():
        raise InputError(
            _(
                "A password cannot be only spaces: choose %(min)d to %(max)d characters that "
                "are hard to guess: a few uncommon words together, say."
            )
            % limits
        )
    local = email.partition("@")[0]
    words = ["napflow", email, local, *email.replace("@", ".").replace("-", ".").split("."), name]
    words += name.split()
    hints = [word for word in words if len(word) > 2]
    # a long password is judged a piece at a time: as hard to guess as its hardest piece
    pieces = [password[at : at + _SCORED] for at in range(0, len(password), _SCORED)]
    results = [zxcvbn(piece, user_inputs=hints) for piece in pieces]
    best = max(results, key=lambda result: int(result["score"]))
    if int(best["score"]) < MIN_SCORE:
        warning = str(best["feedback"].get("warning") or "").strip().rstrip(".")
        if warning in _WARNINGS:
            warning = _(warning)
        if not warning and any(m.get("dictionary_name") == "user_inputs" for m in best["sequence"]):
            warning = _("it is mostly the person's name or e-mail address, or the word napflow")
        too_easy = (
            _(
                "This password is too easy to guess (%(warning)s): choose %(min)d to %(max)d "
                "characters that are hard to guess: a few uncommon words together, say."
            )
            if warning
            else _(
                "This password is too easy to guess: choose %(min)d to %(max)d characters "
                "that are hard to guess: a few uncommon words together, say."
            )
        )
        raise InputError(too_easy % {**limits, "warning": warning})


def set_password(rt: Runtime, email: str, password: str, actor: str | None = None) -> None:
    """Give a registered person a password (or a new one); their sessions end.

    An administrator's change (``actor``; None: the operator), recorded on the site ledger
    (who, for whom, never the password). The password must pass :func:`check_password`.
    """
    email = inputs.email_address(email)
    with rt.db.read() as conn:
        require_admin(
            conn,
            actor,
            N_("Cannot set the password of %(email)s as %(actor)s: %(reason)s."),
            email=email,
        )
        name = conn.execute(select(people.c.name).where(people.c.email == email)).scalar()
    if name is None:
        raise unregistered(email)
    check_password(password, email, str(name))
    hashed = _HASHER.hash(password)
    now = rt.clock.now()
    with rt.db.write() as conn:
        who = require_admin(
            conn,
            actor,
            N_("Cannot set the password of %(email)s as %(actor)s: %(reason)s."),
            email=email,
        )
        person = _person_id(conn, email)
        conn.execute(delete(accounts).where(accounts.c.person_id == person))
        conn.execute(
            insert(accounts).values(person_id=person, password_hash=hashed, updated_at=now)
        )
        conn.execute(delete(web_sessions).where(web_sessions.c.person_id == person))
        append_site(
            conn,
            audit_key=rt.secrets.audit_key,
            kind=SiteKind.PASSWORD_SET,
            at=now,
            actor=who,
            payload={"person": email},
        )


def set_demo_passwords(rt: Runtime, emails: list[str], password: str) -> None:
    """Give the demo people who have no password yet the same one (hashed once).

    The only way to a password :func:`check_password` was not asked about: the demo's is
    published (and the demo documented as insecure).
    """
    hashed = _HASHER.hash(password)
    now = rt.clock.now()
    with rt.db.write() as conn:
        having = set(conn.execute(select(accounts.c.person_id)).scalars())
        for email in emails:
            person = _person_id(conn, email)
            if person not in having:
                conn.execute(
                    insert(accounts).values(person_id=person, password_hash=hashed, updated_at=now)
                )


def client_key(client: str) -> str:
    """Return what the login limits count a client by: its IPv4 address, its IPv6 /64.

    One IPv6 subscriber commonly holds a whole /64 and could try each of its addresses in
    turn; anything that is not an IP address is counted as given (cut to 64 characters).
    """
    try:
        address = ipaddress.ip_address(client.strip())
    except ValueError:
        return client[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # an IPv4 client seen over IPv6
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def log_in(rt: Runtime, email: str, password: str, client: str = "") -> Session:
    """Check a password and open a session.

    Every attempt is recorded before its password is checked, so simultaneous guesses
    cannot slip past the limits: within FAILURE_WINDOW, after MAX_FAILURES failed logins
    for one address from one client (``client``: its IP address) that client's next
    attempts for the address are refused, and after CLIENT_FAILURES for any addresses all
    its attempts are. An attempt
    counts the failed and the still running attempts recorded before it; when only running
    ones put it over a limit (many people logging in at once from one office address), it
    waits for them to end and counts again, as long as one of them ends every
    WAIT_FOR_EARLIER (up to MAX_WAIT in all). Someone elsewhere guessing a person's
    password does not lock that person out.
    """
    try:
        email = inputs.email_address(email)
    except InputError:
        raise NotAuthenticatedError(_(_WRONG)) from None
    client = client_key(client)
    attempt = _record_attempt(rt, email, client)
    _wait_for_earlier_attempts(rt, attempt, email, client)
    with rt.db.read() as conn:
        found = conn.execute(
            select(people.c.id, people.c.name, people.c.deactivated_at, accounts.c.password_hash)
            .join(accounts, accounts.c.person_id == people.c.id)
            .where(people.c.email == email)
        ).first()
    stored = found.password_hash if found else _dummy_hash()
    if not _password_matches(stored, password) or not found:
        _settle_as_failed(rt, attempt)
        raise NotAuthenticatedError(_(_WRONG))
    if found.deactivated_at is not None:
        # said only to someone who knows the password: the account is there, and closed
        _settle_as_failed(rt, attempt)
        raise NotAuthenticatedError(
            _(
                "The account of %(email)s was deactivated on %(date)s; an administrator can "
                "activate it again."
            )
            % {"email": email, "date": f"{found.deactivated_at:%Y-%m-%d}"}
        )
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    digest = token_digest(rt, token)
    # a hash made with weaker parameters than today's is made again, now that the password
    # is known (argon2's parameters are in the hash itself)
    rehashed = _HASHER.hash(password) if _HASHER.check_needs_rehash(stored) else None
    now = rt.clock.now()
    row = login_failures.c
    with rt.db.write() as conn:
        # this attempt, and the failures it follows for the address from this client
        conn.execute(
            delete(login_failures).where(
                or_(
                    row.id == attempt,
                    and_(row.email == email, row.client == client, row.pending.is_(False)),
                )
            )
        )
        conn.execute(delete(login_failures).where(row.at <= now - FAILURE_WINDOW))
        conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now))
        if rehashed is not None:
            _store_rehash(conn, found.id, stored, rehashed, now)
        conn.execute(
            insert(web_sessions).values(
                token_hash=digest,
                person_id=found.id,
                csrf=csrf,
                created_at=now,
                expires_at=now + timedelta(hours=SESSION_HOURS),
            )
        )
    return Session(token, csrf, email, found.name)


def _store_rehash(conn: Connection, person: int, old: str, new: str, now: datetime) -> None:
    """Replace the person's password hash ``old`` with ``new`` (the same password, rehashed).

    Nothing happens if ``old`` is no longer theirs (the password was changed meanwhile).
    The app's database role may not update accounts: the row is deleted and inserted.
    """
    gone = conn.execute(
        delete(accounts).where(accounts.c.person_id == person, accounts.c.password_hash == old)
    )
    if gone.rowcount == 1:
        conn.execute(insert(accounts).values(person_id=person, password_hash=new, updated_at=now))


def _record_attempt(rt: Runtime, email: str, client: str) -> int:
    """Record a login attempt as running; return its number."""
    with rt.db.write() as conn:
        if conn.dialect.name == "postgresql":
            # one client's attempts are numbered in the order they commit, so each one
            # counts every attempt numbered before it (SQLite has one writer at a time)
            conn.execute(select(func.pg_advisory_xact_lock(_LOCK_SPACE, func.hashtext(client))))
        inserted = conn.execute(
            insert(login_failures)
            .values(email=email, client=client, at=rt.clock.now(), pending=True)
            .returning(login_failures.c.id)
        )
        return int(inserted.scalar_one())


def _wait_for_earlier_attempts(rt: Runtime, attempt: int, email: str, client: str) -> None:
    """Return when the attempts before ``attempt`` leave room for it; refuse if they don't."""
    row = login_failures.c
    started = time.monotonic()
    deadline = started + WAIT_FOR_EARLIER.total_seconds()
    pause, seen = 0.02, None
    while True:
        now = rt.clock.now()
        running = and_(row.pending, row.at > now - PENDING_STALE)
        with rt.db.read() as conn:
            failed_here, tried_here, failed, tried = conn.execute(
                select(
                    func.count().filter(row.email == email, not_(running)),
                    func.count().filter(row.email == email),
                    func.count().filter(not_(running)),
                    func.count(),
                ).where(row.client == client, row.at > now - FAILURE_WINDOW, row.id < attempt)
            ).one()
        if failed_here >= MAX_FAILURES or failed >= CLIENT_FAILURES:
            _settle_as_failed(rt, attempt)  # hammering on keeps the limit in force
            minutes = int(FAILURE_WINDOW.total_seconds() // 60)
            raise RateLimitedError(
                ngettext(
                    "Too many failed logins; try again in %(minutes)d minute.",
                    "Too many failed logins; try again in %(minutes)d minutes.",
                    minutes,
                )
                % {"minutes": minutes}
            )
        if tried_here < MAX_FAILURES and tried < CLIENT_FAILURES:
            return
        if seen is not None and (failed, tried) != seen:  # one before it ended: keep waiting
            deadline = min(
                time.monotonic() + WAIT_FOR_EARLIER.total_seconds(),
                started + MAX_WAIT.total_seconds(),
            )
        seen = (failed, tried)
        if time.monotonic() >= deadline:
            with rt.db.write() as conn:  # its password was never checked: not a failure
                conn.execute(delete(login_failures).where(row.id == attempt))
            raise RateLimitedError(_("Too many logins at once; try again in a minute."))
        time.sleep(pause)
        pause = min(pause * 1.5, 0.25)


def _settle_as_failed(rt: Runtime, attempt: int) -> None:
    with rt.db.write() as conn:
        conn.execute(
            update(login_failures).where(login_failures.c.id == attempt).values(pending=False)
        )


def _password_matches(hashed: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(hashed, password))
    except (VerificationError, InvalidHashError):
        return False


def session_for(rt: Runtime, token: str | None) -> Session | None:
    """Return the live session the cookie ``token`` opens, or None."""
    if not token:
        return None
    digest = token_digest(rt, token)
    with rt.db.read() as conn:
        found = conn.execute(
            select(
                web_sessions.c.csrf,
                people.c.email,
                people.c.name,
                people.c.locale,
                web_sessions.c.expires_at,
            )
            .join(people, people.c.id == web_sessions.c.person_id)
            .where(web_sessions.c.token_hash == digest, people.c.deactivated_at.is_(None))
        ).first()
    if found is None or found.expires_at <= rt.clock.now():
        return None
    return Session("", found.csrf, found.email, found.name, found.locale)


def same_token(expected: str, given: str | None) -> bool:
    """Compare a secret token with one a client sent, in constant time (any text at all)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(
        expected.encode("utf-8", "replace"), given.encode("utf-8", "replace")
    )


def csrf_matches(session: Session, submitted: str | None) -> bool:
    """Tell whether a form's token is the session's, in constant time."""
    return same_token(session.csrf, submitted)


def log_out(rt: Runtime, token: str | None) -> None:
    """End the session ``token`` opens (nothing if there is none)."""
    if token:
        digest = token_digest(rt, token)
        with rt.db.write() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == digest))


def create_api_token(rt: Runtime, email: str, label: str = "api") -> str:
    """Create an API token for a registered person; return it (it is not stored, only shown)."""
    email = inputs.email_address(email)
    label = inputs.token_label(label)
    token = f"napflow_{secrets.token_urlsafe(32)}"
    digest = token_digest(rt, token)
    with rt.db.write() as conn:
        load_viewer(conn, email)  # refuses someone deactivated
        conn.execute(
            insert(api_tokens).values(
                person_id=_person_id(conn, email),
                token_hash=digest,
                label=label,
                created_at=rt.clock.now(),
            )
        )
    return token


@dataclass(frozen=True)
class TokenView:
    """An API token as listed (never the token itself: only its hash is stored)."""

    id: int
    email: str
    label: str
    created_at: datetime
    last_used_at: datetime | None


def list_api_tokens(rt: Runtime, email: str | None = None) -> list[TokenView]:
    """Return the API tokens (of one person), oldest first."""
    query = (
        select(api_tokens, people.c.email)
        .join(people, people.c.id == api_tokens.c.person_id)
        .order_by(api_tokens.c.id)
    )
    if email is not None:
        query = query.where(people.c.email == inputs.email_address(email))
    with rt.db.read() as conn:
        return [
            TokenView(r.id, r.email, r.label, r.created_at, r.last_used_at)
            for r in conn.execute(query)
        ]


def revoke_api_token(rt: Runtime, token_id: int, owner: str | None = None) -> TokenView:
    """Delete API token ``token_id``: requests carrying it are refused from now on.

    With ``owner``, only a token of theirs: anyone else's is answered as a missing one.
    """
    with rt.db.write() as conn:
        query = (
            select(api_tokens, people.c.email)
            .join(people, people.c.id == api_tokens.c.person_id)
            .where(api_tokens.c.id == token_id)
        )
        if owner is not None:
            query = query.where(people.c.email == inputs.email_address(owner))
        found = conn.execute(query).first()
        if found is None:
            raise NotFoundError(
                _("There is no API token %(id)d; %(command)s shows them.")
                % {"id": token_id, "command": "`napflow token list`"},
                missing="api_token",
                key=token_id,
            )
        conn.execute(delete(api_tokens).where(api_tokens.c.id == token_id))
    return TokenView(found.id, found.email, found.label, found.created_at, found.last_used_at)


def token_owner(rt: Runtime, token: str | None) -> str:
    """Return the e-mail address of the API token's owner, or refuse the request.

    The token's last use is written at most once an hour, so reads stay reads.
    """
    if token:
        digest = token_digest(rt, token)
        now = rt.clock.now()
        with rt.db.read() as conn:
            found = conn.execute(
                select(people.c.email, api_tokens.c.last_used_at)
                .join(api_tokens, api_tokens.c.person_id == people.c.id)
                .where(api_tokens.c.token_hash == digest, people.c.deactivated_at.is_(None))
            ).first()
        if found is not None:
            if found.last_used_at is None or now - found.last_used_at > timedelta(hours=1):
                with rt.db.write() as conn:
                    conn.execute(
                        update(api_tokens)
                        .where(api_tokens.c.token_hash == digest)
                        .values(last_used_at=now)
                    )
            return str(found.email)
    raise NotAuthenticatedError(
        _("This request needs an API token: send %(header)s (create one with %(command)s).")
        % {"header": "`Authorization: Bearer TOKEN`", "command": "`napflow token create EMAIL`"}
    )
