"""Services for roles: who may do what on which plan. Roles are per plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select

from napflow import inputs
from napflow.errors import InputError
from napflow.models import Kind, people, roles
from napflow.runtime import Runtime
from napflow.services.ledger import append, load_plan
from napflow.services.people import find_person


@dataclass(frozen=True)
class RoleChange:
    """The outcome of a grant or revoke; ``changed`` is False when there was nothing to do."""

    key: str
    email: str
    role: str
    changed: bool
    version: int


@dataclass(frozen=True)
class RoleView:
    """One role held by one person on a plan."""

    role: str
    email: str
    name: str


def _prepare(
    rt: Runtime, conn: Connection, key: str, email: str, role: str
) -> tuple[Row[Any], Row[Any], bool]:
    plan = load_plan(conn, key)
    definition = rt.catalog.get(plan.workflow)
    if role not in definition.role_names:
        raise InputError(
            f"Workflow {definition.name} has no role {role!r}; roles: "
            f"{', '.join(definition.role_names)}."
        )
    person = find_person(conn, email)
    held = conn.execute(
        select(roles.c.role).where(
            roles.c.plan_id == plan.id, roles.c.person_id == person.id, roles.c.role == role
        )
    ).first()
    return plan, person, held is not None


def grant_role(rt: Runtime, key: str, email: str, role: str) -> RoleChange:
    """Give ``email`` the ``role`` on plan ``key``, recorded in the plan's history."""
    key, email = inputs.plan_key(key), inputs.email_address(email)
    now = rt.clock.now()
    with rt.db.write() as conn:
        plan, person, held = _prepare(rt, conn, key, email, role)
        if held:
            return RoleChange(key, email, role, changed=False, version=plan.version)
        conn.execute(
            insert(roles).values(plan_id=plan.id, person_id=person.id, role=role, granted_at=now)
        )
        version = append(
            conn, plan, kind=Kind.ROLE_GRANTED, at=now, payload={"person": email, "role": role}
        )
    return RoleChange(key, email, role, changed=True, version=version)


def revoke_role(rt: Runtime, key: str, email: str, role: str) -> RoleChange:
    """Take ``role`` on plan ``key`` away from ``email``, recorded in the plan's history."""
    key, email = inputs.plan_key(key), inputs.email_address(email)
    now = rt.clock.now()
    with rt.db.write() as conn:
        plan, person, held = _prepare(rt, conn, key, email, role)
        if not held:
            return RoleChange(key, email, role, changed=False, version=plan.version)
        conn.execute(
            delete(roles).where(
                roles.c.plan_id == plan.id, roles.c.person_id == person.id, roles.c.role == role
            )
        )
        version = append(
            conn, plan, kind=Kind.ROLE_REVOKED, at=now, payload={"person": email, "role": role}
        )
    return RoleChange(key, email, role, changed=True, version=version)


def list_roles(rt: Runtime, key: str) -> list[RoleView]:
    """Return who holds which role on plan ``key``, in the workflow's role order."""
    key = inputs.plan_key(key)
    with rt.db.read() as conn:
        plan = load_plan(conn, key)
        rows = conn.execute(
            select(roles.c.role, people.c.email, people.c.name)
            .join(people, people.c.id == roles.c.person_id)
            .where(roles.c.plan_id == plan.id)
        ).all()
    order = {r: i for i, r in enumerate(rt.catalog.get(plan.workflow).role_names)}
    ranked = sorted(rows, key=lambda r: (order.get(r.role, len(order)), r.email))
    return [RoleView(r.role, r.email, r.name) for r in ranked]
