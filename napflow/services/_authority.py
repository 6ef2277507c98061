"""Who may make a change to a plan that is not a workflow action (roles, deadlines).

The workflow file names the roles that may (``[workflow] manage_roles``,
``manage_deadlines``); an administrator (the CLI on the database host without ``--as``, or
a holder of the admin site grant) always may. Nothing here names a plan role.
"""

from __future__ import annotations

from sqlalchemy import Connection

from napflow.errors import NotAllowedError
from napflow.services._records import PlanRow
from napflow.services._visibility import ADMIN, actor_on_plan, load_viewer


def authorised_role(
    conn: Connection, plan: PlanRow, actor: str, may: tuple[str, ...], change: str
) -> str:
    """Return the role ``actor`` makes ``change`` on ``plan`` as: the first of ``may`` held.

    An administrator makes it as ``admin``. Refuse (NotAllowedError, with the reason) when
    ``actor`` holds none of them; a plan ``actor`` does not see is answered as missing.
    """
    held = actor_on_plan(conn, plan.key, actor).actor_roles
    for role in may:
        if role in held:
            return role
    if load_viewer(conn, actor).is_admin:
        return ADMIN
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
