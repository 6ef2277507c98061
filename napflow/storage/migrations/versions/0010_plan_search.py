"""The plans list at ten thousand plans: a folded search text, and three indexes.

Adds ``plans.search`` (the plan's key and title folded without regard to case, as
napflow.storage.text writes it; filled here for the plans there are), an index of each
plan's deadlines by status, time and kind (the list sorts by the next one) in place of the
one by plan alone, an index of each plan's queued messages by status (its page lists them),
and one of the plans by country (the list's filter offers the countries there are).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from napflow.storage.text import plan_search_text

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_PLANS = sa.table(
    "plans",
    sa.column("id", sa.Integer),
    sa.column("key", sa.String),
    sa.column("title", sa.String),
    sa.column("search", sa.Text),
)


def upgrade() -> None:
    op.add_column("plans", sa.Column("search", sa.Text(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.select(_PLANS.c.id, _PLANS.c.key, _PLANS.c.title)).all()
    if rows:
        conn.execute(
            _PLANS.update().where(_PLANS.c.id == sa.bindparam("plan")),
            [{"plan": r.id, "search": plan_search_text(r.key, r.title)} for r in rows],
        )
    op.drop_index("ix_deadlines_plan_id", table_name="deadlines")
    op.create_index(
        "ix_deadlines_plan_id_status_due_at_kind",
        "deadlines",
        ["plan_id", "status", "due_at", "kind"],
    )
    op.create_index("ix_outbox_plan_id_status", "outbox", ["plan_id", "status"])
    op.create_index("ix_plans_country", "plans", ["country"])


def downgrade() -> None:
    op.drop_index("ix_plans_country", table_name="plans")
    op.drop_index("ix_outbox_plan_id_status", table_name="outbox")
    op.drop_index("ix_deadlines_plan_id_status_due_at_kind", table_name="deadlines")
    op.create_index("ix_deadlines_plan_id", "deadlines", ["plan_id"])
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("search")
