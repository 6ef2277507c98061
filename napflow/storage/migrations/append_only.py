"""The triggers that make a ledger table append-only, for every migration that needs them.

Migration 0003 creates them for ``history``, 0006 for ``site_history``; a later migration
that rebuilds such a table (SQLite's batch mode copies it into a new table) drops them with
it and must create them again.
"""

from __future__ import annotations

from alembic import op


def create_append_only_triggers(table: str = "history") -> None:
    """Make the database refuse changes to ``table``'s records (and emptying the table)."""
    refuse = f"{table} is append-only: its records cannot be changed or removed"
    if op.get_bind().dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{refuse}'); END"
            )
        return
    function = f"napflow_{table}_append_only"
    op.execute(
        f"CREATE FUNCTION {function}() RETURNS trigger AS $$ "
        f"BEGIN RAISE EXCEPTION '{refuse}'; END $$ LANGUAGE plpgsql"
    )
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    )
