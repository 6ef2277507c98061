"""The history service: what happened to a plan, in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from napflow import inputs
from napflow.models import Kind, history
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

    @property
    def detail(self) -> str:
        """Say in words what the record is about beyond its trigger: comment or role change."""
        payload = self.payload or {}
        if self.kind == Kind.ROLE_GRANTED:
            return f"granted {payload.get('role')} to {payload.get('person')}"
        if self.kind == Kind.ROLE_REVOKED:
            return f"revoked {payload.get('role')} from {payload.get('person')}"
        if self.kind == Kind.CREATED:
            return f"created: {payload.get('title', '')}"
        return self.comment or ""


@dataclass(frozen=True)
class PlanHistory:
    """A plan's history, with the plan's time zone for showing local times."""

    key: str
    timezone: str
    records: list[HistoryRecord]


def plan_history(rt: Runtime, key: str) -> PlanHistory:
    """Return every history record of plan ``key``, oldest first."""
    key = inputs.plan_key(key)
    with rt.db.read() as conn:
        plan = load_plan(conn, key)
        rows = conn.execute(
            select(history).where(history.c.plan_id == plan.id).order_by(history.c.seq)
        ).all()
    records = [
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
    return PlanHistory(plan.key, plan.timezone, records)
