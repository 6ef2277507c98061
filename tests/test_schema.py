"""The Alembic migrations build exactly the schema the code declares, and re-run safely."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from napflow.models import metadata
from napflow.runtime import Runtime


def test_migrated_schema_matches_the_models(rt: Runtime) -> None:
    with rt.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_init_is_idempotent_and_keeps_data(rt: Runtime, nap_plan: str) -> None:
    before, after = rt.db.upgrade()
    assert before == after == "0004"
    with rt.db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM plans")).scalar_one() == 1


@pytest.mark.sqlite_only
def test_sqlite_connections_are_durable_and_enforce_foreign_keys(rt: Runtime) -> None:
    """Both the connections services write through and the general engine's."""
    with rt.db.write() as service_conn, rt.db.engine.connect() as general_conn:
        for conn in (service_conn, general_conn):
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


@pytest.mark.sqlite_only
def test_only_the_relaxed_connection_skips_the_fsync(rt: Runtime) -> None:
    """Recording send outcomes may skip fsync (at worst a resend); other writes may not."""
    with rt.db.write(durable=False) as relaxed:
        assert relaxed.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1  # NORMAL
    with rt.db.write() as durable:
        assert durable.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
