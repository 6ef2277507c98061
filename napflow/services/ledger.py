"""Reading a plan for change, and appending to its history together with the change.

Every change to a plan goes through :func:`append`: it moves the plan's version on by one
with a compare-and-swap and writes the history record carrying that version as its seq, in
the caller's transaction. A lost race changes no row and raises ConflictError, so the whole
transaction rolls back and nothing half-done is left.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from napflow.errors import ConflictError, NotFoundError
from napflow.models import Kind, history, plans


def load_plan(conn: Connection, key: str) -> Row[Any]:
    """Return the plan row with ``key``, or refuse with the keys that do exist."""
    row = conn.execute(select(plans).where(plans.c.key == key)).first()
    if row is None:
        raise NotFoundError(
            f"There is no plan {key!r}; `napflow plan list` shows the plans there are."
        )
    return row


def append(
    conn: Connection,
    plan: Row[Any],
    *,
    kind: str,
    at: datetime,
    trigger: str | None = None,
    to_state: str | None = None,
    actor: str | None = None,
    role: str | None = None,
    comment: str | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """Record one change of ``plan`` (read in this transaction); return its new version.

    For a transition, ``to_state`` becomes the plan's state and starts a new round.
    """
    seq = plan.version + 1
    values: dict[str, Any] = {"version": seq, "updated_at": at}
    if kind == Kind.TRANSITION:
        values["state"] = to_state
        values["entered_seq"] = seq
    result = conn.execute(
        update(plans).where(plans.c.id == plan.id, plans.c.version == plan.version).values(**values)
    )
    if result.rowcount != 1:
        raise ConflictError(
            f"{plan.key} changed while this action was being recorded; nothing was written. "
            f"See `napflow history {plan.key}` and try again."
        )
    conn.execute(
        insert(history).values(
            plan_id=plan.id,
            seq=seq,
            kind=kind,
            trigger=trigger,
            from_state=plan.state,
            to_state=to_state if kind == Kind.TRANSITION else plan.state,
            actor=actor,
            role=role,
            comment=comment,
            at=at,
            workflow=plan.workflow,
            workflow_version=plan.workflow_version,
            payload=payload,
        )
    )
    return int(seq)
