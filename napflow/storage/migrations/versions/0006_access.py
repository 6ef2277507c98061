"""Who sees what: site grants, people who left, and the site ledger.

Adds ``people.deactivated_at``, the ``site_grants`` table (admin, auditor, reader; for every
country or one) and ``site_history``, the append-only chain of changes to people and site
grants. The app role needs UPDATE on ``people``, SELECT/INSERT/DELETE on ``site_grants`` and
SELECT/INSERT on ``site_history`` (docs/deployment.md, the grants block).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from napflow.storage.migrations.append_only import create_append_only_triggers
from napflow.storage.schema import LedgerJSON, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("people", sa.Column("deactivated_at", UTCDateTime(), nullable=True))
    op.create_table(
        "site_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("grant", sa.String(16), nullable=False),
        sa.Column("country", sa.String(3), nullable=False),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_site_grants_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_grants")),
        sa.UniqueConstraint("person_id", "grant", "country", name="uq_site_grants_person_id"),
    )
    op.create_table(
        "site_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(254), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("payload", LedgerJSON(), nullable=True),
        sa.Column("prev_hash", sa.String(80), nullable=False),
        sa.Column("hash", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_history")),
        sa.UniqueConstraint("seq", name=op.f("uq_site_history_seq")),
    )
    create_append_only_triggers("site_history")


def downgrade() -> None:
    op.drop_table("site_history")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS napflow_site_history_append_only()")
    op.drop_table("site_grants")
    with op.batch_alter_table("people") as batch:
        batch.drop_column("deactivated_at")
