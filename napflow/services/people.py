"""Services for people: the persons who take part in plans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from napflow import inputs
from napflow.errors import RefusedError
from napflow.runtime import Runtime
from napflow.services._records import unregistered
from napflow.storage.schema import people


@dataclass(frozen=True)
class PersonView:
    """A person as shown to users."""

    email: str
    name: str
    timezone: str | None


def find_person(conn: Connection, email: str) -> Row[Any]:
    """Return the person row for ``email`` or refuse, saying how to add them."""
    row = conn.execute(select(people).where(people.c.email == email)).first()
    if row is None:
        raise unregistered(email)
    return row


def add_person(
    rt: Runtime, email: str, name: str, timezone: str | None = None, locale: str | None = None
) -> PersonView:
    """Register a person who can then be given roles on plans."""
    email = inputs.email_address(email)
    name = inputs.person_name(name)
    zone = inputs.timezone(timezone) if timezone is not None else None
    with rt.db.write() as conn:
        existing = conn.execute(select(people.c.name).where(people.c.email == email)).first()
        if existing is not None:
            raise RefusedError(f"{email} is already registered, as {existing.name}.")
        conn.execute(
            insert(people).values(
                email=email, name=name, timezone=zone, locale=locale, created_at=rt.clock.now()
            )
        )
    return PersonView(email=email, name=name, timezone=zone)


def list_people(rt: Runtime) -> list[PersonView]:
    """Return everyone registered, by e-mail address."""
    with rt.db.read() as conn:
        rows = conn.execute(select(people).order_by(people.c.email)).all()
    return [PersonView(r.email, r.name, r.timezone) for r in rows]
