"""Stored workflow versions: the text of each workflow version napflow has used.

Adds ``workflow_versions`` (name, version, the SHA-256 of the file's text, the text, the
file it was read from, when, and the site ledger record that seals it), append-only like
the ledger. Versions plans already run under are stored the first time napflow uses them
after this upgrade (it needs the audit key to seal them, which a migration does not have).
The app role needs SELECT and INSERT on it (docs/deployment.md, the grants block).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from napflow.storage.migrations.append_only import create_append_only_triggers
from napflow.storage.schema import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflow_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("stored_at", UTCDateTime(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_versions")),
        sa.UniqueConstraint("name", "version", name="uq_workflow_versions_name"),
    )
    create_append_only_triggers("workflow_versions")


def downgrade() -> None:
    op.drop_table("workflow_versions")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS napflow_workflow_versions_append_only()")
