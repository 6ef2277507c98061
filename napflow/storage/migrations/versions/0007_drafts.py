"""The draft itself: versions of a plan's document, their bytes, and the plan's current one.

Adds ``draft_contents`` (one row per SHA-256) with its bytes in ``draft_chunks``, ``drafts``
(version N of a plan's document) and the plan's current draft (``plans.draft_version``,
``plans.draft_sha256``). The three draft tables are append-only like the history. The app
role needs SELECT and INSERT on them (docs/deployment.md, the grants block).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from napflow.storage.migrations.append_only import create_append_only_triggers
from napflow.storage.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TABLES = ("draft_contents", "draft_chunks", "drafts")


def upgrade() -> None:
    # added in place (a rebuild of plans would trip the history's foreign keys on SQLite)
    op.add_column(
        "plans", sa.Column("draft_version", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "plans", sa.Column("draft_sha256", sa.String(64), nullable=False, server_default="")
    )
    op.create_table(
        "draft_contents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(127), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draft_contents")),
        sa.UniqueConstraint("sha256", name=op.f("uq_draft_contents_sha256")),
    )
    op.create_table(
        "draft_chunks",
        sa.Column("content_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["draft_contents.id"],
            name=op.f("fk_draft_chunks_content_id_draft_contents"),
        ),
        sa.PrimaryKeyConstraint("content_id", "n", name=op.f("pk_draft_chunks")),
    )
    op.create_table(
        "drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(127), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("added_by", sa.String(254), nullable=True),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name=op.f("fk_drafts_plan_id_plans")),
        sa.ForeignKeyConstraint(
            ["content_id"], ["draft_contents.id"], name=op.f("fk_drafts_content_id_draft_contents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drafts")),
        sa.UniqueConstraint("plan_id", "version", name="uq_drafts_plan_id_version"),
    )
    for table in _TABLES:
        create_append_only_triggers(table)


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP FUNCTION IF EXISTS napflow_{table}_append_only()")
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("draft_sha256")
        batch.drop_column("draft_version")
