"""Who may make a change to a plan that is not a workflow action (roles, deadlines).

The workflow file names the roles that may (``[workflow] manage_roles``,
``manage_deadlines``); the administrator (the CLI on the database host, without ``--as``)
always may. Nothing here names a role.
"""

from __future__ import annotations

from sqlalchemy import Connection

from napflow.errors import NotAllowedError
from napflow.services._records import PlanRow, load_plan_for_actor


def authorised_role(
    conn: Connection, plan: PlanRow, actor: str, may: tuple[str, ...], change: str
) -> str:
    """Return the role ``actor`` makes ``change`` on ``plan`` as: the first of ``may`` held.

    Refuse (NotAllowedError, with the reason) when ``actor`` holds none of them.
    """
    held = load_plan_for_actor(conn, plan.key, actor).actor_roles
    for role in may:
        if role in held:
            return role
    who = (
        " or ".join(f"a {role}" for role in may)
        if may
        else "an administrator (this workflow names no role that may)"
    )
    reason = (
        f"only {who} of the plan may, and {actor} holds "
        f"{', '.join(sorted(held)) or 'no role'} on it"
    )
    raise NotAllowedError(
        f"Cannot {change} on {plan.key} as {actor}: {reason}.",
        key=plan.key,
        actor=actor,
        state=plan.state,
        reasons=[reason],
    )
