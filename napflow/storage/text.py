"""Text compared without regard to case, in every script, on both engines.

SQLite's ``lower()`` and ``LIKE`` fold ASCII letters only, so a search for "таджикистан"
would miss "Таджикистан". napflow registers Python's ``str.casefold`` on every SQLite
connection as ``napflow_fold`` (napflow.storage.database) and compiles :func:`folded` to
it. PostgreSQL's ``lower()`` follows the database's character type, which a cluster made
with the C locale limits to ASCII too: napflow asks for ICU's root collation instead
(``"und-x-icu"``, in every PostgreSQL built with ICU, as Debian's and the official images
are), which folds every script the same way whatever the cluster's locale.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction

#: the name of the function registered on SQLite connections
SQLITE_FOLD = "napflow_fold"


class folded(GenericFunction[str]):  # used like a SQL function: folded(column)
    """The text of a column folded for comparison without case (SQL)."""

    type = String()
    inherit_cache = True
    name = "folded"


@compiles(folded, "sqlite")
def _fold_sqlite(element: folded, compiler: Any, **kw: Any) -> str:
    return f"{SQLITE_FOLD}({compiler.process(element.clauses, **kw)})"


@compiles(folded, "postgresql")
def _fold_postgresql(element: folded, compiler: Any, **kw: Any) -> str:
    return f'lower(({compiler.process(element.clauses, **kw)}) COLLATE "und-x-icu")'


@compiles(folded)
def _fold_other(element: folded, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


def fold(value: str | None) -> str | None:
    """Fold ``value`` as :func:`folded` does in SQL (Python's casefold)."""
    return value.casefold() if isinstance(value, str) else value
