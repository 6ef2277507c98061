"""The history service: what happened to a plan, in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from napflow import inputs
from napflow.models import history
from napflow.runtime import Runtime
from napflow.services.ledger import load_plan


@dataclass(frozen=True)
class HistoryRecord:
    """One record of a plan's history."""

    seq: int
    kind: str
    trigger: str | None
    from_state: str | None
    to_state: str | None
    actor: str | None
    role: str | None
    comment: str | None
    at: datetime
    workflow: str
    workflow_version: int
    payload: dict[str, Any] | None


def plan_history(rt: Runtime, key: str) -> list[HistoryRecord]:
    """Return every history record of plan ``key``, oldest first."""
    key = inputs.plan_key(key)
    with rt.db.read() as conn:
        plan = load_plan(conn, key)
        rows = conn.execute(
            select(history).where(history.c.plan_id == plan.id).order_by(history.c.seq)
        ).all()
    return [
        HistoryRecord(
            seq=r.seq,
            kind=r.kind,
            trigger=r.trigger,
            from_state=r.from_state,
            to_state=r.to_state,
            actor=r.actor,
            role=r.role,
            comment=r.comment,
            at=r.at,
            workflow=r.workflow,
            workflow_version=r.workflow_version,
            payload=r.payload,
        )
        for r in rows
    ]
