"""The statement fast path: one compiled form per dialect, driver and parameter style."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    select,
)

from napflow.storage.fastpath import PLAIN, FastStatement

_META = MetaData()
_ITEMS = Table("items", _META, Column("id", Integer, primary_key=True), Column("name", String))
_BY_ID = FastStatement(select(_ITEMS.c.name).where(_ITEMS.c.id == bindparam("item")))


def _engine(paramstyle: str | None) -> Engine:
    engine = create_engine("sqlite://", **({"paramstyle": paramstyle} if paramstyle else {}))
    with engine.begin() as conn:
        _META.create_all(conn)
        conn.execute(_ITEMS.insert(), [{"id": 1, "name": "Dushanbe"}, {"id": 2, "name": "Vienna"}])
    return engine


def test_each_parameter_style_gets_its_own_compiled_text() -> None:
    # SQLite's driver takes "?" (qmark) or ":name" (named) parameters: one dialect and driver
    # name, two texts (as psycopg's and pg8000's differ on PostgreSQL). A cache keyed by the
    # dialect alone handed the first text to both; sqlite3 happens to accept either, a
    # stricter driver does not, so the texts themselves are checked.
    statement = FastStatement(select(_ITEMS.c.name).where(_ITEMS.c.id == bindparam("item")))
    for style, item, wanted in (("qmark", 2, "Vienna"), ("named", 1, "Dushanbe")):
        with _engine(style).connect() as conn:
            assert statement.execute(conn, {"item": item}).fetchone()[0] == wanted
    texts = sorted(entry.sql.rpartition("= ")[2] for entry in statement._compiled.values())
    assert texts == [":item", "?"]


def test_a_plain_connection_runs_it_through_sqlalchemy() -> None:
    engine = _engine(None)
    seen: list[str] = []
    with engine.connect() as conn:
        event.listen(conn, "before_cursor_execute", lambda *a: seen.append(a[2]))
        assert _BY_ID.execute(conn, {"item": 1}).fetchone()[0] == "Dushanbe"
        assert seen == []  # the fast path: on the driver's cursor
        conn.info[PLAIN] = True
        assert _BY_ID.execute(conn, {"item": 2}).fetchone()[0] == "Vienna"
        assert len(seen) == 1 and "FROM items" in seen[0]
