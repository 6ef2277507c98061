"""Site grants: access not tied to one plan (admin, auditor, reader), and who is asking.

``admin`` manages people, accounts, tokens, plans and site grants and sees every plan;
``auditor`` reads every record of the plans of the countries it covers (all, or named ones)
and downloads their audit bundles; ``reader`` reads those plans. Neither acts. Each grant
and revocation is sealed on the site ledger (napflow.services._site_ledger).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from napflow import inputs
from napflow.errors import InputError, NotAllowedError, NotFoundError, RefusedError
from napflow.i18n import N_, _
from napflow.ledger.record import SiteKind
from napflow.runtime import Runtime
from napflow.services._records import unregistered
from napflow.services._site_ledger import append_site, lock_site
from napflow.services._visibility import (
    ADMIN,
    EVERY_COUNTRY,
    GRANTS,
    OPERATOR,
    Viewer,
    load_viewer,
    remembered_viewers,
)
from napflow.storage.schema import people, site_grants

__all__ = [
    "GRANTS",
    "AccessChange",
    "AccessView",
    "Viewer",
    "grant_access",
    "list_access",
    "remembered_viewers",
]


@dataclass(frozen=True)
class AccessView:
    """One site grant as listed."""

    email: str
    name: str
    grant: str
    #: ISO alpha-3, or "*" for every country
    country: str
    granted_at: datetime


@dataclass(frozen=True)
class AccessChange:
    """What a grant or revocation did: the grants given or taken, and the site record."""

    email: str
    grant: str
    countries: list[str]
    changed: list[str]
    seq: int | None


def viewer(rt: Runtime, email: str | None) -> Viewer:
    """Return who ``email`` is for access (None: the operator, who sees everything)."""
    if email is None:
        return OPERATOR
    with rt.db.read() as conn:
        return load_viewer(conn, inputs.email_address(email))


def check_admin(rt: Runtime, actor: str | None, refusal: str, **values: Any) -> None:
    """Refuse unless ``actor`` is an administrator (for interfaces, before a form).

    ``refusal`` and ``values`` as for :func:`require_admin`.
    """
    with rt.db.read() as conn:
        require_admin(conn, actor, refusal, **values)


def require_admin(conn: Connection, actor: str | None, refusal: str, **values: Any) -> str | None:
    """Refuse unless ``actor`` is an administrator (None: the operator, who is).

    ``refusal`` is the sentence that refuses, marked with N_ and translated here, with
    ``%(actor)s``, ``%(reason)s`` and its own ``values`` (``N_("Cannot edit %(key)s as
    %(actor)s: %(reason)s.")`` with ``key=``). Return ``actor`` as recorded (None for the
    operator).
    """
    if actor is None:
        return None
    actor = inputs.email_address(actor)
    if not load_viewer(conn, actor).is_admin:
        reason = _("only an administrator may, and %(actor)s is not one") % {"actor": actor}
        message = _(refusal) % {**values, "actor": actor, "reason": reason}
        raise NotAllowedError(message, actor=actor, reasons=[reason])
    return actor


def _grant_name(value: str) -> str:
    grant = value.strip().lower()
    if grant not in GRANTS:
        raise InputError(
            _("There is no site grant %(grant)r; grants: %(grants)s.")
            % {"grant": value, "grants": ", ".join(GRANTS)}
        )
    return grant


def _countries(grant: str, countries: Sequence[str]) -> list[str]:
    if not countries:
        return [EVERY_COUNTRY]
    if grant == ADMIN:
        raise InputError(
            _("An admin grant covers every country: give no %(option)s with it.")
            % {"option": "--country"}
        )
    return sorted({inputs.country_code(c) for c in countries})


def _person(conn: Connection, email: str) -> int:
    found = conn.execute(select(people.c.id).where(people.c.email == email)).first()
    if found is None:
        raise unregistered(email)
    return int(found.id)


def _admins(conn: Connection) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(site_grants.join(people, people.c.id == site_grants.c.person_id))
            .where(site_grants.c.grant == ADMIN, people.c.deactivated_at.is_(None))
        ).scalar_one()
    )


def last_admin_guard(conn: Connection, person_id: int, email: str, refusal: str) -> None:
    """Refuse a change if it would leave no active administrator but the operator's CLI.

    ``refusal`` is the whole sentence that refuses it (marked with N_, naming
    ``%(email)s``), translated here. Concurrent changes to people and site access wait for
    each other (lock_site), so two administrators cannot each remove the other at the same
    moment.
    """
    lock_site(conn)
    active_admin = conn.execute(
        select(site_grants.c.id)
        .join(people, people.c.id == site_grants.c.person_id)
        .where(
            site_grants.c.person_id == person_id,
            site_grants.c.grant == ADMIN,
            people.c.deactivated_at.is_(None),
        )
    ).first()
    if active_admin is not None and _admins(conn) <= 1:
        raise RefusedError(_(refusal) % {"email": email})


def grant_access(
    rt: Runtime,
    email: str,
    grant: str,
    countries: Sequence[str] = (),
    actor: str | None = None,
    comment: str | None = None,
) -> AccessChange:
    """Give ``email`` a site grant (for every country, or for ``countries``), recorded.

    Only an administrator may (``actor`` None: the operator). Grants already held are
    kept as they were; nothing is recorded if nothing changed.
    """
    return _change(rt, email, grant, countries, actor, comment, give=True)


def revoke_access(
    rt: Runtime,
    email: str,
    grant: str,
    countries: Sequence[str] = (),
    actor: str | None = None,
    comment: str | None = None,
) -> AccessChange:
    """Take a site grant from ``email`` (every country's, or ``countries``'), recorded."""
    return _change(rt, email, grant, countries, actor, comment, give=False)


def _change(
    rt: Runtime,
    email: str,
    grant: str,
    countries: Sequence[str],
    actor: str | None,
    comment: str | None,
    *,
    give: bool,
) -> AccessChange:
    email = inputs.email_address(email)
    grant = _grant_name(grant)
    wanted = _countries(grant, countries)
    comment = inputs.comment(comment)
    with rt.db.write() as conn:
        now = rt.clock.now()  # once the write has begun: the ledgers' order
        who = require_admin(
            conn,
            actor,
            N_("Cannot grant site access as %(actor)s: %(reason)s.")
            if give
            else N_("Cannot revoke site access as %(actor)s: %(reason)s."),
        )
        person_id = _person(conn, email)
        held = {
            row.country
            for row in conn.execute(
                select(site_grants.c.country).where(
                    site_grants.c.person_id == person_id, site_grants.c.grant == grant
                )
            )
        }
        if give:
            changed = [c for c in wanted if c not in held]
            if changed:
                conn.execute(
                    insert(site_grants),
                    [
                        {"person_id": person_id, "grant": grant, "country": c, "granted_at": now}
                        for c in changed
                    ],
                )
        else:
            if not countries:
                wanted = sorted(held)  # every country's grant of that kind
            changed = [c for c in wanted if c in held]
            if not changed:
                named = [c for c in wanted if c != EVERY_COUNTRY]
                none_held = (
                    _(
                        "%(email)s holds no %(grant)s grant for %(countries)s; %(command)s "
                        "shows the grants."
                    )
                    if named
                    else _("%(email)s holds no %(grant)s grant; %(command)s shows the grants.")
                )
                raise NotFoundError(
                    none_held
                    % {
                        "email": email,
                        "grant": grant,
                        "countries": ", ".join(named),
                        "command": "`napflow access list`",
                    },
                    missing="grant",
                    key=email,
                )
            if grant == ADMIN:
                last_admin_guard(
                    conn,
                    person_id,
                    email,
                    N_(
                        "Cannot revoke admin from %(email)s: %(email)s is the last active "
                        "administrator, and the web app and API would have none. Grant admin "
                        "to someone else first."
                    ),
                )
            conn.execute(
                delete(site_grants).where(
                    site_grants.c.person_id == person_id,
                    site_grants.c.grant == grant,
                    site_grants.c.country.in_(changed),
                )
            )
        seq = None
        if changed:
            seq = append_site(
                conn,
                audit_key=rt.secrets.audit_key,
                kind=SiteKind.ACCESS_GRANTED if give else SiteKind.ACCESS_REVOKED,
                at=now,
                actor=who,
                comment=comment,
                payload={"person": email, "grant": grant, "countries": changed},
            )
    return AccessChange(email, grant, wanted, changed, seq)


def list_access(rt: Runtime, actor: str | None = None) -> list[AccessView]:
    """Return every site grant by person, grant and country (administrators only)."""
    with rt.db.read() as conn:
        require_admin(conn, actor, N_("Cannot list site access as %(actor)s: %(reason)s."))
        rows = conn.execute(
            select(people.c.email, people.c.name, site_grants)
            .join(people, people.c.id == site_grants.c.person_id)
            .order_by(people.c.email, site_grants.c.grant, site_grants.c.country)
        ).all()
    order = {grant: n for n, grant in enumerate(GRANTS)}
    rows = sorted(rows, key=lambda r: (r.email, order[r.grant], r.country))
    return [AccessView(r.email, r.name, r.grant, r.country, r.granted_at) for r in rows]
