"""The Alembic migrations build exactly the schema the code declares, the same schema on
SQLite and PostgreSQL (the ledger append-only on both), and re-run safely."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from helpers import SCHEMA_HEAD
from pg_server import PgServer
from sqlalchemy import Boolean, Connection, DateTime, inspect, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from napflow.runtime import Runtime
from napflow.storage.database import Database
from napflow.storage.schema import metadata


def test_migrated_schema_matches_the_models(rt: Runtime) -> None:
    with rt.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_init_is_idempotent_and_keeps_data(rt: Runtime, nap_plan: str) -> None:
    before, after = rt.db.upgrade()
    assert before == after == SCHEMA_HEAD
    with rt.db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM plans")).scalar_one() == 1


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A new, empty PostgreSQL database, for a test that is not parametrized by engine."""
    name = f"napflow_{uuid.uuid4().hex[:12]}"
    pg_server.execute(f"CREATE DATABASE {name}")
    yield pg_server.url(name)
    pg_server.execute(f"DROP DATABASE {name} WITH (FORCE)")


def type_key(type_: TypeEngine[Any], dialect: str) -> str:
    """The column type as the generic SQLAlchemy type it stands for, e.g. String(length=63)."""
    # as_generic() maps these onto a generic type that drops what sets them apart (JSONB
    # reorders keys, which the ledger's digests cannot survive; CITEXT ignores case)
    if isinstance(type_, postgresql.JSONB | postgresql.CITEXT):
        return f"{dialect} {type_!r}"
    try:
        generic = type_.as_generic()
    except NotImplementedError:  # an engine's own type (INET, say): cannot match the other's
        return f"{dialect} {type_!r}"
    if isinstance(generic, DateTime) and dialect == "sqlite":
        # SQLite's types carry no time zone: its DATETIME reflects as timezone=False whatever
        # the migration declared. napflow declares every time aware (UTCDateTime, which
        # stores UTC text on SQLite), so read it so; a naive PostgreSQL timestamp differs.
        return repr(DateTime(timezone=True))
    return repr(generic)


def default_key(default: str, dialect: str, boolean: bool = False) -> str:
    """A server default's value, without the quotes and casts each engine writes around it."""
    # PostgreSQL casts a literal to the column's type ('' -> ''::character varying, a cast it
    # adds itself); SQLite reports the default as the migration wrote it ('0' for 0)
    if dialect == "postgresql":
        default = re.sub(r"::[a-z ]+$", "", default)
    value = default[1:-1] if len(default) >= 2 and default[0] == default[-1] == "'" else default
    if boolean and dialect == "sqlite":  # SQLite keeps a boolean as 0 or 1; false() writes 0
        value = {"0": "false", "1": "true"}.get(value, value)
    return value


def names(columns: Sequence[str | None]) -> str:
    return f"({', '.join(str(c) for c in columns)})"


def describe_schema(conn: Connection) -> dict[str, str]:
    """Everything the migrations built, as {what: how}, one entry per table, column, key,
    constraint and index: e.g. {"index roles.ix_roles_person_id": "(person_id)"}.
    """
    dialect = conn.dialect.name
    found = inspect(conn)
    schema = {}
    for table in found.get_table_names():
        schema[f"table {table}"] = "present"
        pk = found.get_pk_constraint(table)
        schema[f"primary key {table}"] = f"{pk['name']} {names(pk['constrained_columns'])}"
        for column in found.get_columns(table):
            how = type_key(column["type"], dialect)
            how += " NULL" if column["nullable"] else " NOT NULL"
            default = column.get("default")
            if (
                dialect == "postgresql"
                and (default or "").startswith("nextval(")
                and pk["constrained_columns"] == [column["name"]]
            ):
                # PostgreSQL numbers a one-column integer primary key from a sequence
                # (SERIAL: a nextval() default), SQLite from the rowid, with no default
                default = None
            if default is not None:
                boolean = isinstance(column["type"], Boolean)
                how += f" DEFAULT {default_key(default, dialect, boolean)!r}"
            schema[f"column {table}.{column['name']}"] = how
        for fk in found.get_foreign_keys(table):
            # ondelete, onupdate, deferrable, initially: both engines report each one that
            # is not the default. Not MATCH: SQLite accepts it, ignores it, and does not say.
            options = {k: v for k, v in sorted(fk["options"].items()) if k != "match"}
            what = fk["name"] or names(fk["constrained_columns"])
            schema[f"foreign key {table}.{what}"] = (
                f"{names(fk['constrained_columns'])} -> "
                f"{fk['referred_table']}{names(fk['referred_columns'])}"
                + "".join(f" {k}={v}" for k, v in options.items())
            )
        for uq in found.get_unique_constraints(table):
            what = uq["name"] or names(uq["column_names"])
            schema[f"unique {table}.{what}"] = names(uq["column_names"])
        for ck in found.get_check_constraints(table):
            # the names only: each engine rewrites the expression in its own words
            schema[f"check {table}.{ck['name']}"] = "present"
        for ix in found.get_indexes(table):
            # PostgreSQL also lists the index behind each UNIQUE constraint (compared as a
            # unique constraint above); SQLite leaves out its own (sqlite_autoindex_*)
            if ix.get("duplicates_constraint"):
                continue
            how = names(ix.get("expressions") or ix["column_names"])
            schema[f"index {table}.{ix['name']}"] = how + (" UNIQUE" if ix["unique"] else "")
    return schema


@pytest.mark.both_engines
def test_the_migrations_build_the_same_schema_on_both_engines(tmp_path: Path, pg_url: str) -> None:
    upgrades, schemas = {}, {}
    for url in (f"sqlite:///{tmp_path / 'napflow.db'}", pg_url):
        db = Database(url)
        try:
            upgrades[db.dialect] = db.upgrade()
            with db.engine.connect() as conn:
                schemas[db.dialect] = describe_schema(conn)
        finally:
            db.dispose()
    assert upgrades["sqlite"] == upgrades["postgresql"] == (None, SCHEMA_HEAD)
    lite, pg = schemas["sqlite"], schemas["postgresql"]
    tables = {f"table {name}" for name in [*metadata.tables, "alembic_version"]}
    assert {what for what in lite if what.startswith("table ")} == tables  # not nothing
    differences = [
        f"{what}: SQLite {lite.get(what, '(missing)')}; PostgreSQL {pg.get(what, '(missing)')}"
        for what in sorted(lite.keys() | pg.keys())
        if lite.get(what) != pg.get(what)
    ]
    assert not differences, "The migrations built different schemas:\n" + "\n".join(differences)


#: the triggers napflow.storage.migrations.append_only creates: name -> (table, when, events, for
#: each, what it runs). SQLite has no TRUNCATE (its DELETE trigger also guards a DELETE
#: without WHERE) and runs its trigger body itself; PostgreSQL runs a function.
LEDGERS = (
    "history",
    "site_history",
    "draft_contents",
    "draft_chunks",
    "drafts",
    "verifications",
    "verified_heads",
    "workflow_versions",
)
APPEND_ONLY = {
    "sqlite": {
        f"{table}_append_only_{event.lower()}": (table, "BEFORE", event, "ROW", "RAISE(ABORT)")
        for table in LEDGERS
        for event in ("UPDATE", "DELETE")
    },
    "postgresql": {
        name: (table, "BEFORE", events, each, f"napflow_{table}_append_only()")
        for table in LEDGERS
        for name, events, each in (
            (f"{table}_append_only", "DELETE OR UPDATE", "ROW"),
            (f"{table}_no_truncate", "TRUNCATE", "STATEMENT"),
        )
    },
}


def triggers(conn: Connection) -> dict[str, tuple[str, ...]]:
    """The database's triggers, described as in APPEND_ONLY."""
    if conn.dialect.name == "sqlite":
        found: dict[str, tuple[str, ...]] = {}
        for name, table, sql in conn.execute(
            text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
        ):
            parsed = re.fullmatch(
                r"CREATE TRIGGER \w+ (BEFORE|AFTER|INSTEAD OF) (\w+) ON \w+ "
                r"(?:FOR EACH ROW )?BEGIN (.*) END",
                " ".join(sql.split()),
            )
            assert parsed, sql
            when, event, body = parsed.groups()
            runs = "RAISE(ABORT)" if body.startswith("SELECT RAISE(ABORT, ") else body
            found[name] = (table, when, event, "ROW", runs)  # SQLite's are all row triggers
        return found
    # pg_trigger.tgtype bits: 1 row (else statement), 2 before, 64 instead of (else after);
    # the events: 4 insert, 8 delete, 16 update, 32 truncate
    events = ((4, "INSERT"), (8, "DELETE"), (16, "UPDATE"), (32, "TRUNCATE"))
    rows = conn.execute(
        text(
            "SELECT t.tgname, t.tgrelid::regclass::text, t.tgtype, t.tgenabled, t.tgfoid::regproc "
            "FROM pg_trigger t WHERE NOT t.tgisinternal"
        )
    )
    return {
        name: (
            table,
            "BEFORE" if tgtype & 2 else "INSTEAD OF" if tgtype & 64 else "AFTER",
            " OR ".join(event for bit, event in events if tgtype & bit),
            "ROW" if tgtype & 1 else "STATEMENT",
            f"{function}()" if enabled == "O" else f"{function}() DISABLED ({enabled})",
        )
        for name, table, tgtype, enabled, function in rows
    }


def test_the_history_is_append_only_in_the_database(rt: Runtime) -> None:
    """The triggers are there and nothing else is (tests/test_audit.py shows the database
    refusing UPDATE, DELETE and TRUNCATE through them).
    """
    with rt.db.engine.connect() as conn:
        assert triggers(conn) == APPEND_ONLY[rt.db.dialect]


@pytest.mark.sqlite_only
def test_sqlite_connections_are_durable_and_enforce_foreign_keys(rt: Runtime) -> None:
    """Both the connections services write through and the general engine's."""
    with rt.db.write() as service_conn, rt.db.engine.connect() as general_conn:
        for conn in (service_conn, general_conn):
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            # a page cache of 16 MiB (given in KiB, negative), not SQLite's 2 MiB
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -16384


@pytest.mark.sqlite_only
def test_only_the_relaxed_connection_skips_the_fsync(rt: Runtime) -> None:
    """Recording send outcomes may skip fsync (at worst a resend); other writes may not."""
    with rt.db.write(durable=False) as relaxed:
        assert relaxed.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1  # NORMAL
    with rt.db.write() as durable:
        assert durable.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
