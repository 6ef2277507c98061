"""Loading the facts the engine decides on, inside the caller's transaction.

Only the facts the guards in play declare (see :attr:`Condition.needs`) are read, so the
common action reads one row set before its writes.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, select

from napflow.ledger.record import Kind
from napflow.services._records import PlanRow, load_plan_for_actor
from napflow.storage.schema import Status, deadlines, history, people, roles
from napflow.workflow.engine import Engine
from napflow.workflow.facts import (
    ENTERED,
    HOLDERS,
    PENDING_DEADLINES,
    ROUND_ACTIONS,
    PlanFacts,
    RoundAction,
)

_HOLDERS = (
    select(roles.c.role, people.c.email)
    .join(people, people.c.id == roles.c.person_id)
    .where(roles.c.plan_id == bindparam("plan_id"))
)

_ROUND_ACTIONS = (
    select(history.c.actor, history.c.trigger, history.c.role)
    .where(
        history.c.plan_id == bindparam("plan_id"),
        history.c.seq > bindparam("since"),
        history.c.kind == Kind.ACTION,
    )
    .order_by(history.c.seq)
)


def role_holders(conn: Connection, plan_id: int) -> dict[str, frozenset[str]]:
    """Return role -> e-mail addresses of its holders on the plan."""
    found: dict[str, set[str]] = defaultdict(set)
    for row in conn.execute(_HOLDERS, {"plan_id": plan_id}):
        found[row.role].add(row.email)
    return {role: frozenset(emails) for role, emails in found.items()}


_ENTERED = (
    select(history.c.actor, history.c.trigger, history.c.role)
    .where(history.c.plan_id == bindparam("plan_id"), history.c.kind == Kind.TRANSITION)
    .order_by(history.c.seq.desc())
    .limit(1)
)

_PENDING = (
    select(deadlines.c.kind)
    .where(deadlines.c.plan_id == bindparam("plan_id"), deadlines.c.status == Status.PENDING)
    .distinct()
)


def entered_by(conn: Connection, plan: PlanRow) -> RoundAction | None:
    """Return the transition that sent the plan to its state (None: it was created there)."""
    row = conn.execute(_ENTERED, {"plan_id": plan.id}).first()
    return RoundAction(row.actor, row.trigger, row.role) if row and row.actor else None


def pending_kinds(conn: Connection, plan_id: int) -> frozenset[str]:
    """Return the kinds of the plan's deadlines still open."""
    return frozenset(conn.execute(_PENDING, {"plan_id": plan_id}).scalars())


def round_actions(conn: Connection, plan: PlanRow) -> tuple[RoundAction, ...]:
    """Return the recorded actions since the plan entered its current state."""
    rows = conn.execute(_ROUND_ACTIONS, {"plan_id": plan.id, "since": plan.entered_seq})
    return tuple(RoundAction(r.actor, r.trigger, r.role) for r in rows)


def load_facts(
    conn: Connection,
    plan: PlanRow,
    needs: frozenset[str],
    actor: str | None = None,
    actor_roles: frozenset[str] = frozenset(),
    comment: str | None = None,
    listing: bool = False,
) -> PlanFacts:
    """Build the PlanFacts of ``plan`` for ``actor``, reading only what ``needs`` names."""
    return PlanFacts(
        key=plan.key,
        state=plan.state,
        actor=actor,
        actor_roles=actor_roles,
        comment=comment,
        listing=listing,
        holders=role_holders(conn, plan.id) if HOLDERS in needs else {},
        round_actions=round_actions(conn, plan) if ROUND_ACTIONS in needs else (),
        draft_version=plan.draft_version,
        entered_by=entered_by(conn, plan) if ENTERED in needs else None,
        pending_deadlines=pending_kinds(conn, plan.id)
        if PENDING_DEADLINES in needs
        else frozenset(),
    )


def allowed_now(
    conn: Connection, engine: Engine, plan: PlanRow, actor: str | None = None
) -> list[str]:
    """Return the triggers ``actor`` (or anyone, if None) may fire on the plan now."""
    held = load_plan_for_actor(conn, plan.key, actor).actor_roles if actor else frozenset()
    facts = load_facts(conn, plan, engine.needs(plan.state), actor, held, listing=True)
    return engine.allowed(facts)


def plan_facts(conn: Connection, engine: Engine, plan: PlanRow) -> PlanFacts:
    """Return the facts every holder's choices on the plan are decided on (no actor yet)."""
    return load_facts(conn, plan, engine.needs(plan.state) | {HOLDERS}, listing=True)


def actions_for(engine: Engine, facts: PlanFacts, email: str) -> list[str]:
    """Return the triggers ``email`` may fire, by the roles ``facts.holders`` give them."""
    held = frozenset(role for role, who in facts.holders.items() if email in who)
    return engine.allowed(dataclasses.replace(facts, actor=email, actor_roles=held))


def actions_of(
    conn: Connection, engine: Engine, plan: PlanRow, emails: Iterable[str]
) -> dict[str, list[str]]:
    """Return, for each of ``emails``, the triggers they may fire on the plan now."""
    facts = plan_facts(conn, engine, plan)
    return {email: actions_for(engine, facts, email) for email in emails}
