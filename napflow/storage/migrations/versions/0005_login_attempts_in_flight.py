"""Login attempts in flight are told apart from failed ones.

Adds ``login_failures.pending``: true while the password is being checked, false once the
attempt failed (a successful login deletes its row). Rows written before are failures.
The app role now also updates this table (docs/deployment.md, the grants block).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "login_failures",
        sa.Column("pending", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("login_failures") as batch:
        batch.drop_column("pending")
