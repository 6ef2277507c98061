"""Loading the facts the engine decides on, inside the caller's transaction.

Only the facts the guards in play declare (see :attr:`Condition.needs`) are read, which keeps
the common action to two small queries before its writes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, Row, select

from napflow.engine import Engine
from napflow.errors import NotFoundError
from napflow.facts import HOLDERS, ROUND_ACTIONS, PlanFacts, RoundAction
from napflow.models import Kind, history, people, roles


def actor_roles(conn: Connection, plan_id: int, email: str) -> frozenset[str]:
    """Return the roles ``email`` holds on the plan; refuse an unregistered person."""
    rows = conn.execute(
        select(people.c.id, roles.c.role)
        .select_from(people)
        .outerjoin(roles, (roles.c.person_id == people.c.id) & (roles.c.plan_id == plan_id))
        .where(people.c.email == email)
    ).all()
    if not rows:
        raise NotFoundError(
            f"{email} is not registered; add them with `napflow person add {email} --name ...`."
        )
    return frozenset(r.role for r in rows if r.role is not None)


def role_holders(conn: Connection, plan_id: int) -> dict[str, frozenset[str]]:
    """Return role -> e-mail addresses of its holders on the plan."""
    found: dict[str, set[str]] = defaultdict(set)
    rows = conn.execute(
        select(roles.c.role, people.c.email)
        .join(people, people.c.id == roles.c.person_id)
        .where(roles.c.plan_id == plan_id)
    )
    for row in rows:
        found[row.role].add(row.email)
    return {role: frozenset(emails) for role, emails in found.items()}


def round_actions(conn: Connection, plan: Row[Any]) -> tuple[RoundAction, ...]:
    """Return the recorded actions since the plan entered its current state."""
    rows = conn.execute(
        select(history.c.actor, history.c.trigger, history.c.role)
        .where(
            history.c.plan_id == plan.id,
            history.c.seq > plan.entered_seq,
            history.c.kind == Kind.ACTION,
        )
        .order_by(history.c.seq)
    )
    return tuple(RoundAction(r.actor, r.trigger, r.role) for r in rows)


def load_facts(
    conn: Connection,
    plan: Row[Any],
    needs: frozenset[str],
    actor: str | None = None,
    comment: str | None = None,
    listing: bool = False,
) -> PlanFacts:
    """Build the PlanFacts of ``plan`` for ``actor``, reading only what ``needs`` names."""
    return PlanFacts(
        key=plan.key,
        state=plan.state,
        actor=actor,
        actor_roles=actor_roles(conn, plan.id, actor) if actor is not None else frozenset(),
        comment=comment,
        listing=listing,
        holders=role_holders(conn, plan.id) if HOLDERS in needs else {},
        round_actions=round_actions(conn, plan) if ROUND_ACTIONS in needs else (),
    )


def allowed_now(
    conn: Connection, engine: Engine, plan: Row[Any], actor: str | None = None
) -> list[str]:
    """Return the triggers ``actor`` (or anyone, if None) may fire on the plan now."""
    facts = load_facts(conn, plan, engine.needs(plan.state), actor=actor, listing=True)
    return engine.allowed(facts)
