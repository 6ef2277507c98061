"""Statements for the hottest path, compiled by SQLAlchemy once and run on the driver cursor.

Advancing a plan runs three statements in one transaction. Through ``Connection.execute``
each costs some 40 us of SQLAlchemy bookkeeping here, several times the statement itself,
which would make the engine slower than it has any need to be (bench/advance.py). A
:class:`FastStatement` keeps SQLAlchemy as the SQL compiler (so the text is right for every
dialect) and uses the public type API for parameter conversion, but executes on the
transaction's own DBAPI connection. Use it only for simple statements whose results need no
type processing (integers and strings); everything else goes through ``Connection.execute``.

The fence: the compiled form is cached per dialect, driver and parameter style (two drivers
of one dialect can write parameters differently: on PostgreSQL psycopg takes ``%(name)s``,
pg8000 ``%s``), and a connection
whose ``info[PLAIN]`` is true (``[database] fast_path = false``, set by the Database) runs
the same statements through plain ``Connection.execute``, so the fast path can always be
compared with SQLAlchemy's own (bench/advance.py) and the tests run both ways.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

#: Connection.info key: true sends FastStatements through plain Connection.execute
PLAIN = "napflow_plain_sql"


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: bool
    # (parameter name, bind processor or None), in the order the SQL takes them
    params: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    # values of the literals written into the statement (status == "sending", say)
    literals: Mapping[str, Any]


class FastStatement:
    """A Core statement compiled once per dialect and executed on the DBAPI cursor."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, str, str], _Compiled] = {}

    def _compile(self, conn: Connection) -> _Compiled:
        dialect = conn.dialect
        compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect))
        names = compiled.positiontup if compiled.positional else list(compiled.binds)
        params = tuple(
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in names or ()
        )
        literals = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        entry = _Compiled(compiled.string, compiled.positional, params, literals)
        self._compiled[_cache_key(conn)] = entry
        return entry

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Run the statement in ``conn``'s current transaction; return its rows' cursor.

        That is the DBAPI cursor, or SQLAlchemy's result on a plain connection (both give
        ``fetchone``, ``fetchall``, ``rowcount`` and rows that unpack as tuples).
        """
        if conn.info.get(PLAIN):
            return conn.execute(cast(Executable, self.statement), dict(params))
        entry = self._compiled.get(_cache_key(conn)) or self._compile(conn)
        if entry.literals:
            params = {**entry.literals, **params}
        values = [
            params[name] if process is None else process(params[name])
            for name, process in entry.params
        ]
        args: Any = (
            tuple(values)
            if entry.positional
            else dict(zip((n for n, _ in entry.params), values, strict=True))
        )
        return driver_execute(conn, entry.sql, args)


def _cache_key(conn: Connection) -> tuple[str, str, str]:
    dialect = conn.dialect
    return (dialect.name, dialect.driver, dialect.paramstyle)


def driver_execute(conn: Connection, sql: str, args: Any = ()) -> Any:
    """Execute ``sql`` on ``conn``'s DBAPI connection; return the cursor.

    Driver errors are wrapped as Connection.execute wraps them, so callers see one family.
    """
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, args)
    except conn.dialect.loaded_dbapi.Error as exc:
        cursor.close()  # an open statement would keep SQLite from closing the connection
        raise DBAPIError.instance(
            sql, args, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from exc
    return cursor
