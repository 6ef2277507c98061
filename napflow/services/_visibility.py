"""Who sees which plans: the rule every read and action of the services applies.

A person sees a plan if they hold any role on it, hold a site grant that covers it (admin;
auditor or reader of every country or of the plan's), or are an administrator. The operator
(the CLI on the database host without ``--as``) sees everything. A plan someone does not
see is answered exactly as a plan that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, or_, select, true

from napflow import inputs
from napflow.errors import NotAllowedError
from napflow.i18n import _
from napflow.services._records import (
    PlanForActor,
    load_plan,
    load_plan_for_actor,
    missing_plan,
    unregistered,
)
from napflow.storage.schema import people, plans, roles, site_grants

ADMIN, AUDITOR, READER = "admin", "auditor", "reader"
#: the site grants, in the order they are listed
GRANTS = (ADMIN, AUDITOR, READER)
#: a grant's country when it covers every country
EVERY_COUNTRY = "*"


@dataclass(frozen=True)
class Viewer:
    """Who is asking, with their site grants; ``email`` None is the operator."""

    email: str | None
    person_id: int | None = None
    #: (grant, country) pairs; country EVERY_COUNTRY for all
    grants: frozenset[tuple[str, str]] = frozenset()

    @property
    def is_admin(self) -> bool:
        """True for the operator and for holders of the admin grant."""
        return self.email is None or any(grant == ADMIN for grant, _country in self.grants)

    def covers(self, country: str, *kinds: str) -> bool:
        """Tell whether a grant of ``kinds`` (any grant if none) covers ``country``."""
        if self.is_admin:
            return True
        return any(
            (not kinds or grant in kinds) and where in (EVERY_COUNTRY, country)
            for grant, where in self.grants
        )

    @property
    def sees_every_plan(self) -> bool:
        """True when a grant covers every country (no plan is hidden from them)."""
        return self.is_admin or any(where == EVERY_COUNTRY for _grant, where in self.grants)

    def countries(self) -> frozenset[str]:
        """Return the countries their grants name (not "every country")."""
        return frozenset(where for _grant, where in self.grants if where != EVERY_COUNTRY)


OPERATOR = Viewer(None)


def deactivated(email: str, since: datetime) -> NotAllowedError:
    """Return the refusal for someone who has been deactivated."""
    values = {
        "email": email,
        "date": f"{since:%Y-%m-%d}",
        "command": f"`napflow person activate {email}`",
    }
    reason = _("%(email)s was deactivated on %(date)s") % values
    return NotAllowedError(
        _("%(email)s was deactivated on %(date)s; an administrator can undo it with %(command)s.")
        % values,
        actor=email,
        reasons=[reason],
    )


#: within remembered_viewers(): each viewer loaded so far (email: Viewer); else None
_REMEMBERED: ContextVar[dict[str, Viewer] | None] = ContextVar("napflow_viewers", default=None)


@contextmanager
def remembered_viewers() -> Iterator[None]:
    """Within the block, load each viewer once, not once per service called.

    For a web request that only reads: a page calls several services, each of which checks
    who is asking (a person, their grants) in its own transaction. Within one such request
    the answer cannot change, so it is read once; every plan is still checked against it
    by every service. Not for a request that changes anything (a grant it makes would not
    be seen by the services called after it).
    """
    token = _REMEMBERED.set({})
    try:
        yield
    finally:
        _REMEMBERED.reset(token)


def load_viewer(conn: Connection, email: str | None) -> Viewer:
    """Return the Viewer for ``email`` (None: the operator); refuse unknown or departed people."""
    if email is None:
        return OPERATOR
    email = inputs.email_address(email)
    remembered = _REMEMBERED.get()
    if remembered is not None and email in remembered:
        return remembered[email]
    viewer = _read_viewer(conn, email)
    if remembered is not None:
        remembered[email] = viewer
    return viewer


def _read_viewer(conn: Connection, email: str) -> Viewer:
    person = conn.execute(
        select(people.c.id, people.c.deactivated_at).where(people.c.email == email)
    ).first()
    if person is None:
        raise unregistered(email)
    if person.deactivated_at is not None:
        raise deactivated(email, person.deactivated_at)
    return Viewer(email, person.id, grants_of(conn, person.id))


def grants_of(conn: Connection, person_id: int) -> frozenset[tuple[str, str]]:
    """Return the (grant, country) pairs person ``person_id`` holds."""
    rows = conn.execute(
        select(site_grants.c.grant, site_grants.c.country).where(
            site_grants.c.person_id == person_id
        )
    )
    return frozenset((row.grant, row.country) for row in rows)


def visible_clause(viewer: Viewer) -> ColumnElement[bool]:
    """Return the condition on ``plans`` rows that ``viewer`` sees."""
    if viewer.sees_every_plan:
        return true()
    on_plan = plans.c.id.in_(select(roles.c.plan_id).where(roles.c.person_id == viewer.person_id))
    countries = viewer.countries()
    return or_(on_plan, plans.c.country.in_(sorted(countries))) if countries else on_plan


def is_visible(conn: Connection, viewer: Viewer, plan_id: int) -> bool:
    """Tell whether ``viewer`` sees the plan with id ``plan_id``."""
    if viewer.sees_every_plan:
        return True
    found = conn.execute(
        select(plans.c.id).where(plans.c.id == plan_id, visible_clause(viewer))
    ).first()
    return found is not None


def actor_on_plan(conn: Connection, key: str, email: str) -> PlanForActor:
    """Return plan ``key`` and the roles ``email`` holds on it, for an action of theirs.

    Someone deactivated is refused; a plan they hold no role on and no grant covers is
    answered as missing (the same error, from the same number of lookups up to that point).
    """
    found = load_plan_for_actor(conn, key, email)
    if found.departed or not found.actor_roles:
        viewer = load_viewer(conn, email)  # refuses someone deactivated
        if not found.actor_roles and not is_visible(conn, viewer, found.plan.id):
            raise missing_plan(key)
    return found


def visible_plan(conn: Connection, viewer: Viewer, key: str) -> Row[Any]:
    """Return plan ``key``'s row if ``viewer`` sees it; else the same error as a missing plan.

    One query either way: a hidden plan is not told apart by an extra lookup.
    """
    if viewer.sees_every_plan:
        return load_plan(conn, key)
    row = conn.execute(select(plans).where(plans.c.key == key, visible_clause(viewer))).first()
    if row is None:
        raise missing_plan(key)
    return row


def plan_for(conn: Connection, email: str | None, key: str) -> Row[Any]:
    """Return plan ``key``'s row as ``email`` (None: the operator) may see it, or refuse."""
    return visible_plan(conn, load_viewer(conn, email), key)
