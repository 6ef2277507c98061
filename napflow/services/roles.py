"""Services for roles: who may do what on which plan. Roles are per plan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from napflow import inputs
from napflow.errors import InputError
from napflow.i18n import N_, _
from napflow.ledger.record import Kind
from napflow.runtime import Runtime
from napflow.services._authority import authorised_role
from napflow.services._outbox import sync_reminders
from napflow.services._records import PlanRow, append, load_plan
from napflow.services._visibility import plan_for
from napflow.services.people import find_person
from napflow.storage.schema import people, roles


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


def _change_role(
    rt: Runtime,
    key: str,
    email: str,
    role: str,
    grant: bool,
    actor: str | None,
    comment: str | None = None,
) -> RoleChange:
    key, email = inputs.plan_key(key), inputs.email_address(email)
    actor = inputs.email_address(actor) if actor is not None else None
    comment = inputs.comment(comment)
    with rt.db.write() as conn:
        now = rt.clock.now()  # once the write has begun: the ledgers' order
        plan: PlanRow = load_plan(conn, key)
        definition = rt.catalog.get(plan.workflow, plan.workflow_version)
        acting_role = None
        if actor is not None:
            # who may is the workflow's to say ([workflow] manage_roles)
            acting_role = authorised_role(
                conn,
                plan,
                actor,
                definition.manage_roles,
                N_("Cannot change roles on %(key)s as %(actor)s: %(reason)s."),
            )
        if role not in definition.role_names:
            raise InputError(
                _("Workflow %(workflow)s has no role %(role)r; roles: %(roles)s.")
                % {
                    "workflow": definition.name,
                    "role": role,
                    "roles": ", ".join(definition.role_names),
                }
            )
        person = find_person(conn, email)
        match = (roles.c.plan_id == plan.id) & (roles.c.person_id == person.id)
        match &= roles.c.role == role
        held = conn.execute(select(roles.c.role).where(match)).first() is not None
        if held == grant:
            return RoleChange(key, email, role, changed=False, version=plan.version)
        if grant:
            conn.execute(
                insert(roles).values(
                    plan_id=plan.id, person_id=person.id, role=role, granted_at=now
                )
            )
        else:
            conn.execute(delete(roles).where(match))
        after = append(
            conn,
            plan,
            audit_key=rt.secrets.audit_key,
            kind=Kind.ROLE_GRANTED if grant else Kind.ROLE_REVOKED,
            at=now,
            actor=actor,
            role=acting_role,
            comment=comment,
            payload={"person": email, "role": role},
        )
        sync_reminders(conn, definition, after, now)
    return RoleChange(key, email, role, changed=True, version=after.version)


def grant_role(
    rt: Runtime,
    key: str,
    email: str,
    role: str,
    actor: str | None = None,
    comment: str | None = None,
) -> RoleChange:
    """Give ``email`` the ``role`` on plan ``key``, recorded in the plan's history.

    With ``actor``, the change is made as that person, who must hold a role the workflow
    lets manage roles (``[workflow] manage_roles``; the NAP workflow's coordinator), and is
    recorded as theirs; without, it is an administrator's change (the CLI on the database
    host). ``comment`` says why (kept in the record).
    """
    return _change_role(rt, key, email, role, grant=True, actor=actor, comment=comment)


def revoke_role(
    rt: Runtime,
    key: str,
    email: str,
    role: str,
    actor: str | None = None,
    comment: str | None = None,
) -> RoleChange:
    """Take ``role`` on plan ``key`` away from ``email`` (see grant_role for the rest)."""
    return _change_role(rt, key, email, role, grant=False, actor=actor, comment=comment)


def list_roles(rt: Runtime, key: str, *, viewer: str | None = None) -> list[RoleView]:
    """Return who holds which role on plan ``key``, in the workflow's role order.

    ``viewer`` (None: the operator) must see the plan, or it is answered as missing.
    """
    key = inputs.plan_key(key)
    with rt.db.read() as conn:
        plan = plan_for(conn, viewer, key)
        rows = conn.execute(
            select(roles.c.role, people.c.email, people.c.name)
            .join(people, people.c.id == roles.c.person_id)
            .where(roles.c.plan_id == plan.id)
        ).all()
    order = {
        r: i for i, r in enumerate(rt.catalog.get(plan.workflow, plan.workflow_version).role_names)
    }
    ranked = sorted(rows, key=lambda r: (order.get(r.role, len(order)), r.email))
    return [RoleView(r.role, r.email, r.name) for r in ranked]
