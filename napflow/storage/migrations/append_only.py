"""The triggers that make the history append-only, for every migration that needs them.

Migration 0003 creates them; a later migration that rebuilds the history table (SQLite's
batch mode copies it into a new table) drops them with it and must create them again.
"""

from __future__ import annotations

from alembic import op

REFUSE = "history is append-only: its records cannot be changed or removed"


def create_append_only_triggers() -> None:
    """Make the database refuse changes to history records (and emptying the table)."""
    if op.get_bind().dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER history_append_only_{event.lower()} BEFORE {event} ON history "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END"
            )
        return
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
