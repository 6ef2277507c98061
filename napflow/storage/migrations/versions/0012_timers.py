"""Timer transitions: the transitions napflow fires by itself when their time comes.

Adds ``timers`` (one row per plan, trigger and stay in a state: when it falls due, and
whether it was fired, refused or cancelled), indexed by status and due time for the
scheduler. Plans already in a state with a timer transition get their row at their next
change. The app role needs SELECT, INSERT and UPDATE on it (docs/deployment.md).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from napflow.storage.schema import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("entered_seq", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name=op.f("fk_timers_plan_id_plans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timers")),
        sa.UniqueConstraint("plan_id", "trigger", "entered_seq", name="uq_timers_plan_id"),
    )
    op.create_index("ix_timers_status_due_at", "timers", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_timers_status_due_at", table_name="timers")
    op.drop_table("timers")
