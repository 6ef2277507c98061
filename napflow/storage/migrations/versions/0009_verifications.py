"""Stored verifications: the result of each run of the ledger's check, and how far it got.

Adds ``verifications`` (one row per run: when, by whom, full or incremental, the plans it
covered, what it found) and ``verified_heads`` (for each chain a run moved, the record up
to which it found the chain intact), from which an incremental verification goes on. Both
are append-only like the history. The app role needs SELECT and INSERT on them
(docs/deployment.md, the grants block).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from napflow.storage.migrations.append_only import create_append_only_triggers
from napflow.storage.schema import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TABLES = ("verifications", "verified_heads")


def upgrade() -> None:
    op.create_table(
        "verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ran_at", UTCDateTime(), nullable=False),
        sa.Column("ran_by", sa.String(254), nullable=True),
        sa.Column("incremental", sa.Boolean(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("plans", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("site_records", sa.Integer(), nullable=False),
        sa.Column("not_judged", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(80), nullable=False),
        sa.Column("history_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verifications")),
    )
    op.create_table(
        "verified_heads",
        sa.Column("verification_id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(80), nullable=False),
        sa.Column("actions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verifications.id"],
            name=op.f("fk_verified_heads_verification_id_verifications"),
        ),
        sa.PrimaryKeyConstraint("verification_id", "chain", name=op.f("pk_verified_heads")),
    )
    op.create_index("ix_verified_heads_chain", "verified_heads", ["chain", "verification_id"])
    for table in _TABLES:
        create_append_only_triggers(table)


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP FUNCTION IF EXISTS napflow_{table}_append_only()")
