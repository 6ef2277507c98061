"""Database access: engines, transactions and schema upgrades.

SQLite is the embedded default. Each connection gets WAL, a busy timeout, foreign keys and
``synchronous=FULL`` (a committed action survives a power cut); write transactions start with
``BEGIN IMMEDIATE`` so a read-then-write never fails half-way with "database is locked"
(the pysqlite recipe from SQLAlchemy's documentation, see docs/pitfalls.md).
"""

from __future__ import annotations

import contextlib
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import Connection, RootTransaction, create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    DBAPIError,
    IntegrityError,
    OperationalError,
)
from sqlalchemy.pool import NullPool

from napflow.errors import ConfigError, ConflictError, InputError, NotFoundError
from napflow.storage.fastpath import PLAIN, driver_execute

_WRITE = "napflow_write"
#: set on the connections of write transactions: plans read there are locked (FOR UPDATE on
#: PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the whole database)
WRITER = "napflow_writer"
_RELAXED = "write-relaxed"
MIGRATIONS = Path(__file__).parent / "migrations"
#: how long a write waits behind this process's other writers (each quick) on SQLite; the
#: busy timeout is for waiting on other processes
QUEUE_TIMEOUT_S = 60


def _sqlite_path(parsed: URL) -> Path | None:
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


class Database:
    """One database: a SQLAlchemy engine plus napflow's transaction rules."""

    def __init__(self, url: str, busy_timeout_ms: int = 10_000, fast_path: bool = True) -> None:
        self.url = url
        #: False sends FastStatements through plain Connection.execute (napflow.storage.fastpath)
        self.fast_path = fast_path
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError) as exc:
            raise ConfigError(
                f"Database URL {url!r} is not valid; use e.g. sqlite:///var/napflow.db."
            ) from exc
        self.dialect = parsed.get_backend_name()
        self.sqlite_path = _sqlite_path(parsed)
        try:
            self.engine: Engine = create_engine(url)
            # The connections services use, one per thread (see _connection). On SQLite
            # they start their transactions themselves (see write), so they need a pool
            # without the "begin" event the general engine has.
            # No pool limit there: each thread holds its own connections for its lifetime.
            self._services = (
                create_engine(url, poolclass=NullPool) if self.dialect == "sqlite" else self.engine
            )
        except (ArgumentError, ImportError) as exc:
            raise ConfigError(f"Database URL {parsed!r} cannot be used: {exc}.") from exc
        self._manual_begin = self.dialect == "sqlite"
        # SQLite has one write lock, and its busy handler polls for it with growing sleeps,
        # so under load a newcomer can take it again and again while an earlier writer
        # sleeps past the busy timeout. A process's own writers queue here instead; only
        # one of them at a time asks SQLite (other processes still meet the busy timeout).
        self._writers = threading.Lock()
        if self._manual_begin:
            for engine in (self.engine, self._services):
                _sqlite_pragmas(engine, busy_timeout_ms)
            _sqlite_begin_event(self.engine)
        self._writer = self.engine.execution_options(**{_WRITE: True})
        # SQLite: each thread keeps its connections (opening one costs more than a write).
        # A server engine: each transaction borrows one from the pool and gives it back,
        # so many threads (a web server's) share a bounded number of server connections.
        self._keep = self.dialect == "sqlite"
        self._held = threading.local()
        # every held connection of every thread, so dispose() can close those of threads
        # that never said goodbye (a web server's worker threads)
        self._every_held: set[Connection] = set()
        self._every_held_lock = threading.Lock()
        self._seen = False

    def describe(self) -> str:
        """Return the URL with any password hidden, for messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    def _require_existing(self) -> None:
        if self._seen or self.sqlite_path is None:
            return
        if not self.sqlite_path.exists():
            raise NotFoundError(
                f"There is no napflow database at {self.sqlite_path}; "
                "create it with `napflow init` (or name another with --db)."
            )
        self._seen = True

    def _connection(self, kind: str) -> Connection:  # kind: "read" or "write"
        """Return this thread's connection for ``kind`` (read or write), opening it once.

        Keeping one per thread spares every transaction a pool checkout and check-in,
        which cost more than a whole SQLite write (bench/advance.py).
        """
        conn: Connection | None = getattr(self._held, kind, None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._services.connect()
            if kind == _RELAXED and self._manual_begin:
                driver_execute(conn, "PRAGMA synchronous = NORMAL")
            if kind == "read" and not self._manual_begin:
                # one snapshot for the whole read, as SQLite gives (a verify reads a plan's
                # row and then its records; READ COMMITTED could show them at two moments)
                conn.execution_options(isolation_level="REPEATABLE READ")
            conn.info[WRITER] = kind != "read"
            conn.info[PLAIN] = not self.fast_path
            setattr(self._held, kind, conn)
            with self._every_held_lock:
                self._every_held.add(conn)
        return conn

    def write(self, durable: bool = True) -> AbstractContextManager[Connection]:
        """Run a write transaction: commit if the block succeeds, roll back everything if not.

        On SQLite it starts with BEGIN IMMEDIATE, so a read-then-write never fails half-way
        with "database is locked" (see docs/pitfalls.md). ``durable=False`` (SQLite: no fsync
        at commit, synchronous=NORMAL) still survives a crash of the process, but a power
        cut may undo the last such commits: only for writes whose loss merely repeats work,
        like marking a message sent (at worst it is sent again).
        """
        return _Transaction(self, "write" if durable else _RELAXED, "BEGIN IMMEDIATE")

    def read(self) -> AbstractContextManager[Connection]:
        """Run a read-only transaction: one consistent snapshot for the whole block."""
        return _Transaction(self, "read", "BEGIN")

    def upgrade(
        self, target: str = "head", audit_key: bytes | None = None
    ) -> tuple[str | None, str]:
        """Create the database or upgrade it to the newest schema; return (before, after).

        ``target`` names an older revision instead (tests of the migrations use it). A
        migration that seals history records seals them with ``audit_key``.
        """
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.util import CommandError

        if self.sqlite_path is not None:
            try:
                self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"Cannot create the directory of {self.sqlite_path}: {exc.strerror}."
                ) from exc
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self._writer.begin() as conn:
                before = MigrationContext.configure(conn).get_current_revision()
                config.attributes["connection"] = conn
                config.attributes["audit_key"] = audit_key
                command.upgrade(config, target)
                after = MigrationContext.configure(conn).get_current_revision()
        except DBAPIError as exc:
            _raise_translated(self, exc)
        except CommandError as exc:
            raise ConfigError(
                f"The database {self.describe()} has a schema this napflow does not know "
                f"({exc}); it was made by a newer napflow: upgrade napflow first."
            ) from exc
        return before, after or ""

    def require_current_schema(self) -> None:
        """Refuse to go on with a database that is missing or older than this napflow."""
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(config).get_current_head()
        with self.read() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current != head:
            raise ConfigError(
                f"The database {self.describe()} is at schema {current or 'none'}, this napflow "
                f"needs {head}: run `napflow init` to upgrade it first."
            )

    def _discard(self, kind: str) -> None:
        """Invalidate and forget this thread's ``kind`` connection (after a failed commit)."""
        conn: Connection | None = getattr(self._held, kind, None)
        setattr(self._held, kind, None)
        if conn is None:
            return
        self._forget(conn)
        with contextlib.suppress(Exception):  # best effort: the connection is going anyway
            conn.connection.dbapi_connection.rollback()  # type: ignore[union-attr]
        conn.invalidate()
        conn.close()

    def dispose_thread(self) -> None:
        """Close the connections this thread holds (call it when a worker thread ends)."""
        for kind in ("read", "write", _RELAXED):
            conn = getattr(self._held, kind, None)
            if conn is not None:
                self._forget(conn)
                conn.close()
                setattr(self._held, kind, None)

    def _give_back(self, kind: str) -> None:
        """Return this thread's ``kind`` connection to the pool (engines that pool)."""
        conn: Connection | None = getattr(self._held, kind, None)
        if conn is not None:
            setattr(self._held, kind, None)
            self._forget(conn)
            conn.close()

    def _forget(self, conn: Connection) -> None:
        with self._every_held_lock:
            self._every_held.discard(conn)

    def dispose(self) -> None:
        """Close every connection: this thread's, other threads' held ones, pooled ones.

        Call it when no other thread uses the database any more (at shutdown).
        """
        self.dispose_thread()
        with self._every_held_lock:
            others, self._every_held = self._every_held, set()
        for conn in others:
            with contextlib.suppress(Exception):  # best effort at shutdown
                conn.invalidate()  # closes the driver connection without a pool round trip
        self._services.dispose()
        self.engine.dispose()


class _Transaction:
    """One transaction on this thread's service connection (see Database.write and read).

    On SQLite it is begun and ended on the driver connection: SQLAlchemy's own begin and
    commit cost more than SQLite's on the advance path (bench/advance.py). If a statement
    inside made SQLAlchemy begin its own transaction (an ordinary ``conn.execute``), it is
    ended through SQLAlchemy, which commits or rolls back the same SQLite transaction.
    Driver errors people can act on leave as napflow errors (see _translate).
    """

    __slots__ = ("_begin_sql", "_conn", "_db", "_kind", "_outer", "_queued")

    def __init__(self, db: Database, kind: str, begin_sql: str) -> None:
        self._db, self._kind, self._begin_sql = db, kind, begin_sql
        self._outer: RootTransaction | None = None

    def __enter__(self) -> Connection:
        self._db._require_existing()
        self._queued = self._db._manual_begin and self._kind != "read"
        if self._queued and not self._db._writers.acquire(timeout=QUEUE_TIMEOUT_S):
            raise ConflictError(_busy_message(self._db))
        try:
            self._conn = self._db._connection(self._kind)
            if self._db._manual_begin:
                driver_execute(self._conn, self._begin_sql)
            else:
                self._outer = self._conn.begin()
        except DBAPIError as exc:
            self._db._discard(self._kind)
            self._leave_queue()
            _raise_translated(self._db, exc)
        except BaseException:
            # Interrupted (a signal, Ctrl-C) possibly after the lock was taken: __exit__
            # will not run, so let go of the connection and whatever it holds now.
            self._db._discard(self._kind)
            self._leave_queue()
            raise
        return self._conn

    def _leave_queue(self) -> None:
        if self._queued:
            self._queued = False
            self._db._writers.release()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        try:
            if exc is None:
                self._commit()
            else:
                self._rollback()
        except BaseException as error:
            # The transaction could not be ended cleanly: this connection may still hold
            # it (and SQLite's write lock). Drop the connection; the next action gets a
            # fresh one, and closing it rolls back whatever was left.
            try:
                self._db._discard(self._kind)
            finally:
                self._leave_queue()
            if isinstance(error, DBAPIError):
                _raise_translated(self._db, error)
            raise
        self._leave_queue()
        if not self._db._keep:
            self._db._give_back(self._kind)
        if isinstance(exc, DBAPIError):
            translated = _translate(self._db, exc)
            if translated is not exc:
                raise translated from exc

    def _commit(self) -> None:
        conn = self._conn
        if self._outer is not None:
            self._outer.commit()
        elif conn.in_transaction():
            conn.commit()
        else:
            driver_execute(conn, "COMMIT")

    def _rollback(self) -> None:
        conn = self._conn
        if self._outer is not None:
            self._outer.rollback()
        elif conn.in_transaction():
            conn.rollback()
        else:
            driver_execute(conn, "ROLLBACK")


def _sqlite_pragmas(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun explicitly (BEGIN or BEGIN IMMEDIATE), never by the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # each thread keeps its connection, so its page cache serves request after request:
        # 16 MiB (SQLite's default is 2 MiB) holds the plans of a 10,000-plan site, which
        # the plans list scans for a search (allocated only as pages are read)
        cursor.execute("PRAGMA cache_size = -16384")
        cursor.close()


def _sqlite_begin_event(engine: Engine) -> None:
    """Begin every transaction of ``engine`` explicitly; IMMEDIATE for write transactions."""

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        driver_execute(conn, "BEGIN IMMEDIATE" if write else "BEGIN")


def _busy_message(db: Database) -> str:
    return (
        f"The database {db.describe()} stayed busy past the busy timeout; "
        "nothing was written, try again."
    )


def _raise_translated(db: Database, exc: DBAPIError) -> NoReturn:
    """Raise the napflow error for ``exc`` if there is one, else ``exc`` itself."""
    translated = _translate(db, exc)
    if translated is exc:
        raise exc
    raise translated from exc


def _translate(db: Database, exc: DBAPIError) -> BaseException:
    """Turn driver errors that people can act on into napflow errors; return others as-is."""
    text = str(exc.orig).lower()
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""  # PostgreSQL's error code
    if sqlstate in ("40001", "40P01"):  # a serialization failure, a deadlock
        return ConflictError(
            "Someone else's change got in the way at the same moment; nothing was written. "
            "Try again."
        )
    if sqlstate.startswith("22"):  # a data exception: a value the column cannot hold
        first_line = str(exc.orig).splitlines()[0] if str(exc.orig) else "invalid value"
        return InputError(f"A value does not fit the database ({first_line}); nothing was written.")
    if isinstance(exc, DatabaseError) and (
        "no such table" in text or ("relation" in text and "does not exist" in text)
    ):  # SQLite says OperationalError, PostgreSQL ProgrammingError (UndefinedTable)
        return NotFoundError(
            f"The database {db.describe()} has no napflow tables; run `napflow init` first."
        )
    if isinstance(exc, OperationalError):
        if "locked" in text or "busy" in text:
            return ConflictError(_busy_message(db))
        return ConfigError(f"The database {db.describe()} cannot be used: {exc.orig}.")
    if isinstance(exc, IntegrityError) and ("unique" in text or "duplicate key" in text):
        return ConflictError(
            "Someone else made a conflicting change at the same moment; nothing was written. "
            "Look again and retry."
        )
    if isinstance(exc, DatabaseError) and not isinstance(exc, IntegrityError):
        return ConfigError(f"The database {db.describe()} cannot be used: {exc.orig}.")
    if exc.connection_invalidated:
        return ConfigError(f"Lost the connection to {db.describe()}: {exc.orig}.")
    return exc
