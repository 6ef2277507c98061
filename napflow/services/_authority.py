"""Who may make a change to a plan that is not a workflow action (roles, deadlines).

The workflow file names the roles that may (``[workflow] manage_roles``,
``manage_deadlines``); an administrator (the CLI on the database host without ``--as``, or
a holder of the admin site grant) always may. Nothing here names a plan role.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from napflow.errors import NotAllowedError, either
from napflow.i18n import _, pgettext
from napflow.services._records import PlanRow
from napflow.services._visibility import ADMIN, actor_on_plan, load_viewer


def authorised_role(
    conn: Connection,
    plan: PlanRow,
    actor: str,
    may: tuple[str, ...],
    refusal: str,
    **values: Any,
) -> str:
    """Return the role ``actor`` makes a change on ``plan`` as: the first of ``may`` held.

    An administrator makes it as ``admin``. Refuse (NotAllowedError, with the reason) when
    ``actor`` holds none of them; a plan ``actor`` does not see is answered as missing.
    ``refusal`` is the whole sentence of the refusal, marked (N_) and translated here: it
    names ``%(key)s``, ``%(actor)s``, ``%(reason)s`` and any of ``values``.
    """
    held = actor_on_plan(conn, plan.key, actor).actor_roles
    for role in may:
        if role in held:
            return role
    if load_viewer(conn, actor).is_admin:
        return ADMIN
    facts = {"actor": actor, "held": ", ".join(sorted(held))}
    if may:
        facts["roles"] = either(
            [pgettext("one who holds the role", "a %(role)s") % {"role": role} for role in may]
        )
        if held:
            reason = _("only %(roles)s of the plan may, and %(actor)s holds %(held)s on it")
        else:
            reason = _("only %(roles)s of the plan may, and %(actor)s holds no role on it")
    elif held:
        reason = _(
            "only an administrator (this workflow names no role that may) of the plan may, "
            "and %(actor)s holds %(held)s on it"
        )
    else:
        reason = _(
            "only an administrator (this workflow names no role that may) of the plan may, "
            "and %(actor)s holds no role on it"
        )
    reason %= facts
    raise NotAllowedError(
        _(refusal) % {**values, "key": plan.key, "actor": actor, "reason": reason},
        key=plan.key,
        actor=actor,
        state=plan.state,
        reasons=[reason],
    )
