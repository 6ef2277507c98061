"""The history becomes a tamper-evident ledger: a hash chain per plan, append-only.

Adds each record's digest and the digest of the record before it (napflow.ledger.chain), and on
each plan the seq and digest of its last record; stores payloads as the canonical JSON text
the digests cover; seals the records written so far (with NAPFLOW_AUDIT_KEY if it is set);
then makes the database refuse UPDATE and DELETE on history (and TRUNCATE on PostgreSQL).
A migration that rebuilds the history table later must create the triggers again
(napflow.storage.migrations.append_only).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import json

import sqlalchemy as sa
from alembic import context, op

from napflow.ledger.chain import V1, genesis, payload_text, seal
from napflow.storage.migrations.append_only import create_append_only_triggers
from napflow.storage.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_history = sa.table(
    "history",
    sa.column("id", sa.Integer),
    sa.column("plan_id", sa.Integer),
    sa.column("seq", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("trigger", sa.String),
    sa.column("from_state", sa.String),
    sa.column("to_state", sa.String),
    sa.column("actor", sa.String),
    sa.column("role", sa.String),
    sa.column("comment", sa.Text),
    sa.column("at", UTCDateTime),
    sa.column("workflow", sa.String),
    sa.column("workflow_version", sa.Integer),
    sa.column("payload", sa.Text),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)
_plans = sa.table(
    "plans",
    sa.column("id", sa.Integer),
    sa.column("key", sa.String),
    sa.column("seq", sa.Integer),
    sa.column("head_hash", sa.String),
)


def _seal_existing() -> None:
    """Seal every record written before the chain existed, plan by plan, in seq order."""
    key = context.config.attributes.get("audit_key")
    conn = op.get_bind()
    keys = dict(conn.execute(sa.select(_plans.c.id, _plans.c.key)).all())
    plan_ids = conn.execute(sa.select(_history.c.plan_id).distinct()).scalars().all()
    # history whose plan row is gone is sealed too (so the upgrade completes), and
    # `napflow audit verify` reports it
    for plan_id in sorted({*keys, *plan_ids}):
        prev, seq = genesis(keys.get(plan_id, f"#{plan_id}")), 0
        rows = conn.execute(
            sa.select(_history).where(_history.c.plan_id == plan_id).order_by(_history.c.seq)
        ).mappings()
        for row in rows.all():
            record = dict(row)
            if record["payload"] is not None:
                record["payload"] = payload_text(json.loads(record["payload"]))
            record["prev_hash"] = prev
            digest = seal(record, key, V1)  # the encoding this migration has always sealed with
            conn.execute(
                sa.update(_history)
                .where(_history.c.id == row["id"])
                .values(payload=record["payload"], prev_hash=prev, hash=digest)
            )
            prev, seq = digest, row["seq"]
        conn.execute(
            sa.update(_plans).where(_plans.c.id == plan_id).values(seq=seq, head_hash=prev)
        )


def upgrade() -> None:
    with op.batch_alter_table("history") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(80), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(80), nullable=True))
        batch.alter_column("payload", type_=sa.Text(), existing_nullable=True)
    # plans is referenced by other tables: add its columns in place (SQLite cannot rebuild
    # it while foreign keys are enforced); the defaults are overwritten just below
    op.add_column("plans", sa.Column("seq", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("plans", sa.Column("head_hash", sa.String(80), nullable=False, server_default=""))
    _seal_existing()
    with op.batch_alter_table("history") as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(80), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(80), nullable=False)
    create_append_only_triggers()


def downgrade() -> None:
    raise RuntimeError(
        "napflow cannot go back below schema 0003: the history is append-only, and plans "
        "that had mail recorded would take seq numbers already used. Restore a backup instead."
    )
