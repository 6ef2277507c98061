"""The history becomes a tamper-evident ledger: a hash chain per plan, append-only.

Adds the digest of each record and of the record before it, and each plan's latest digest;
seals the records written so far (with NAPFLOW_AUDIT_KEY if set); then makes the database
refuse UPDATE and DELETE on history (and TRUNCATE on PostgreSQL).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import os

import sqlalchemy as sa
from alembic import op

from napflow.chain import seal

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

REFUSE = "history is append-only: its records cannot be changed or removed"


def _seal_existing() -> None:
    key = os.environ.get("NAPFLOW_AUDIT_KEY", "").encode() or None
    conn = op.get_bind()
    plans = conn.execute(sa.text("SELECT id, key FROM plans ORDER BY id")).all()
    for plan in plans:
        prev = ""
        rows = (
            conn.execute(
                sa.text("SELECT * FROM history WHERE plan_id = :p ORDER BY seq"), {"p": plan.id}
            )
            .mappings()
            .all()
        )
        for row in rows:
            record = dict(row)
            record["plan"] = plan.key
            record["at"] = _aware(record["at"])
            record["payload"] = _json(record["payload"])
            digest = seal(record, prev, key)
            conn.execute(
                sa.text("UPDATE history SET prev_hash = :prev, hash = :h WHERE id = :id"),
                {"prev": prev, "h": digest, "id": row["id"]},
            )
            prev = digest
        conn.execute(
            sa.text("UPDATE plans SET head_hash = :h WHERE id = :id"), {"h": prev, "id": plan.id}
        )


def _aware(value):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _json(value):  # type: ignore[no-untyped-def]
    import json

    return json.loads(value) if isinstance(value, str) else value


def upgrade() -> None:
    op.add_column(
        "history", sa.Column("prev_hash", sa.String(80), nullable=False, server_default="")
    )
    op.add_column("history", sa.Column("hash", sa.String(80), nullable=False, server_default=""))
    op.add_column("plans", sa.Column("head_hash", sa.String(80), nullable=False, server_default=""))
    _seal_existing()
    if op.get_bind().dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER history_append_only_{event.lower()} BEFORE {event} ON history "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION napflow_history_append_only() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{REFUSE}'; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER history_append_only BEFORE UPDATE OR DELETE ON history "
            "FOR EACH ROW EXECUTE FUNCTION napflow_history_append_only()"
        )
        op.execute(
            "CREATE TRIGGER history_no_truncate BEFORE TRUNCATE ON history "
            "FOR EACH STATEMENT EXECUTE FUNCTION napflow_history_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER history_append_only_update")
        op.execute("DROP TRIGGER history_append_only_delete")
    else:
        op.execute("DROP TRIGGER history_no_truncate ON history")
        op.execute("DROP TRIGGER history_append_only ON history")
        op.execute("DROP FUNCTION napflow_history_append_only()")
    op.drop_column("plans", "head_hash")
    op.drop_column("history", "hash")
    op.drop_column("history", "prev_hash")
