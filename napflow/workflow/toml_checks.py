"""Helpers for validating data files: collect every problem, check names and lists."""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from typing import Any

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")


class Problems:
    """Collects problems, each prefixed with the file name and the key it concerns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, key: str, message: str) -> None:
        """Record one problem at ``key``."""
        self.items.append(f"{self.path.name}: {key}: {message}")


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
