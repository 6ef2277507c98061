"""Text compared without regard to case, in every script, on both engines.

SQLite's ``lower()`` and ``LIKE`` fold ASCII letters only, so a search for "таджикистан"
would miss "Таджикистан"; PostgreSQL's ``lower()`` follows the database's character type,
which a cluster made with the C locale limits to ASCII too. So napflow folds the text
itself, with Python's ``str.casefold`` (every script, and "ß" as "ss"), when it writes it:
``plans.search`` holds a plan's key and title folded, and a search folds the words asked
for the same way and compares with ``LIKE``, which then needs no case rules of its own.
Folding once on write rather than on every row of every search keeps a search over ten
thousand plans a plain scan of one column (bench/web.py).
"""

from __future__ import annotations

#: what separates the key from the title in the folded text (a search's words never
#: hold it, so no search matches across the two)
SEPARATOR = "\n"


def fold(value: str) -> str:
    """Return ``value`` folded for comparison without regard to case."""
    return value.casefold()


def plan_search_text(key: str, title: str) -> str:
    """Return what ``plans.search`` holds for a plan of ``key`` and ``title``."""
    return fold(f"{key}{SEPARATOR}{title}")
