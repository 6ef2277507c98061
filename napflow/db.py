"""Database access: engines, transactions and schema upgrades.

SQLite is the embedded default. Each connection gets WAL, a busy timeout, foreign keys and
``synchronous=FULL`` (a committed action survives a power cut); write transactions start with
``BEGIN IMMEDIATE`` so a read-then-write never fails half-way with "database is locked"
(the pysqlite recipe from SQLAlchemy's documentation, see docs/pitfalls).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError

from napflow.errors import ConfigError, ConflictError, NapflowError, NotFoundError

_WRITE = "napflow_write"
MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


class Database:
    """One database: a SQLAlchemy engine plus napflow's transaction rules."""

    def __init__(self, url: str, busy_timeout_ms: int = 10_000) -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ConfigError(
                f"Database URL {url!r} is not valid; use e.g. sqlite:///var/napflow.db."
            ) from exc
        self.dialect = parsed.get_backend_name()
        self.sqlite_path = _sqlite_path(url)
        try:
            self.engine: Engine = create_engine(url)
        except (ArgumentError, ImportError) as exc:
            raise ConfigError(f"Database URL {parsed!r} cannot be used: {exc}.") from exc
        if self.dialect == "sqlite":
            self._configure_sqlite(busy_timeout_ms)
        self._writer = self.engine.execution_options(**{_WRITE: True})

    def _configure_sqlite(self, busy_timeout_ms: int) -> None:
        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event below decide how transactions start.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(_WRITE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    def describe(self) -> str:
        """Return the URL with any password hidden, for messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    def _require_existing(self) -> None:
        if self.sqlite_path is not None and not self.sqlite_path.exists():
            raise NotFoundError(
                f"There is no napflow database at {self.sqlite_path}; "
                "create it with `napflow init` (or name another with --db)."
            )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """Run a write transaction: commit if the block succeeds, roll back everything if not."""
        self._require_existing()
        with _translated(self), self._writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Run a read-only transaction: one consistent snapshot for the whole block."""
        self._require_existing()
        with _translated(self), self.engine.connect() as conn, conn.begin():
            yield conn

    def upgrade(self) -> tuple[str | None, str]:
        """Create the database or upgrade it to the newest schema; return (before, after)."""
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext

        if self.sqlite_path is not None:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with _translated(self), self._writer.begin() as conn:
            before = MigrationContext.configure(conn).get_current_revision()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            after = MigrationContext.configure(conn).get_current_revision()
        return before, after or ""

    def table_names(self) -> list[str]:
        """Return the tables in the database (for checks and tests)."""
        with self.engine.connect() as conn:
            return inspect(conn).get_table_names()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


@contextmanager
def _translated(db: Database) -> Iterator[None]:
    """Turn driver errors that people can act on into napflow errors."""
    try:
        yield
    except NapflowError:
        raise
    except OperationalError as exc:
        text = str(exc.orig).lower()
        if "no such table" in text or ("relation" in text and "does not exist" in text):
            raise NotFoundError(
                f"The database {db.describe()} has no napflow tables; run `napflow init` first."
            ) from exc
        if "locked" in text or "busy" in text:
            raise ConflictError(
                f"The database {db.describe()} stayed busy past the busy timeout; "
                "nothing was written, try again."
            ) from exc
        raise ConfigError(f"The database {db.describe()} cannot be used: {exc.orig}.") from exc
    except IntegrityError as exc:
        text = str(exc.orig).lower()
        if "unique" not in text and "duplicate key" not in text:
            raise
        raise ConflictError(
            "Someone else made a conflicting change at the same moment; nothing was written. "
            "Look again and retry."
        ) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise ConfigError(f"Lost the connection to {db.describe()}: {exc.orig}.") from exc
        raise
