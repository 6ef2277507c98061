"""Mail in each reader's language, and a daily digest for those who want one.

Adds ``plans.locale`` (the language of mails to people on the plan who chose none) and
``people.digest`` ("daily": the person gets one mail a day listing what was queued for
them, instead of one mail each; none: one mail each).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plans", sa.Column("locale", sa.String(35), nullable=True))
    op.add_column("people", sa.Column("digest", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_column("digest")
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("locale")
