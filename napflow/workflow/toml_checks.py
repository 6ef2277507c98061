"""Helpers for validating data files: collect every problem, check names and lists."""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")


class Problems:
    """Collects problems, each prefixed with the file name and the key it concerns.

    A name used but never declared (a state, say) is one mistake however many places use
    it: :meth:`unknown` gathers its places, and :meth:`finish` reports it once, where it is
    first used, with the others and the names there are.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []
        #: (what, name) of each undeclared name used: the keys where, in order
        self._unknown: dict[tuple[str, str], list[str]] = {}
        self._declared: dict[str, list[str]] = {}

    def add(self, key: str, message: str) -> None:
        """Record one problem at ``key``."""
        self.items.append(f"{self.path.name}: {key}: {message}")

    def unknown(self, key: str, what: str, name: str, declared: Iterable[str]) -> None:
        """Record that ``key`` uses the ``what`` (e.g. "state") ``name``, never declared."""
        self._unknown.setdefault((what, name), []).append(key)
        self._declared[what] = sorted(declared)

    def is_unknown(self, what: str, name: str) -> bool:
        """Tell whether ``name`` was recorded as an undeclared ``what``."""
        return (what, name) in self._unknown

    def finish(self) -> list[str]:
        """Report each undeclared name once, at its first use, first; return every problem."""
        first = []
        for (what, name), keys in self._unknown.items():
            also = f"; also used by {', '.join(keys[1:])}" if keys[1:] else ""
            known = ", ".join(self._declared[what]) or "none"
            first.append(
                f"{self.path.name}: {keys[0]}: unknown {what} {name!r}{also} ({what}s: {known})"
            )
        self._unknown.clear()
        self.items[:0] = first  # the root mistakes before what may follow from them
        return self.items


def name_ok(name: Any) -> bool:
    """Tell whether ``name`` is a lower-case identifier usable as a state, role or trigger."""
    return isinstance(name, str) and bool(NAME_RE.fullmatch(name)) and not keyword.iskeyword(name)


def str_list(value: Any) -> list[str] | None:
    """Return a string or a non-empty list of strings as a list; None for anything else."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    return None


def unknown_keys(problems: Problems, where: str, table: dict[str, Any], allowed: set[str]) -> None:
    """Report every key of ``table`` that is not in ``allowed``."""
    for key in table:
        if key not in allowed:
            problems.add(
                f"{where}.{key}" if where else key,
                f"unknown key (accepted: {', '.join(sorted(allowed))})",
            )
