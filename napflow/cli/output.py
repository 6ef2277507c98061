"""Presenting results: rich tables for people, JSON and CSV for scripts."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import click

from napflow.timezones import to_local

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


def jsonable(value: Any) -> Any:
    """Turn dataclasses, datetimes and dates into plain JSON values (times as UTC ISO 8601)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    click.echo(json.dumps(jsonable(value), indent=2, ensure_ascii=False))


def emit_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows as CSV with a header line on stdout."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else jsonable(v) for v in row])
    click.echo(buffer.getvalue(), nl=False)


def console() -> Console:
    """Return a console on stdout; wide when not a terminal, so piped tables stay whole."""
    from rich.console import Console

    width = None if sys.stdout.isatty() else 160
    return Console(file=sys.stdout, width=width, highlight=False)


def emit_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a rich table; cells are shown as text, never interpreted as markup."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console().print(table)


def _cell(value: Any) -> Text:
    from rich.text import Text

    if value is None:
        return Text("")
    if isinstance(value, datetime):
        return Text(value.strftime("%Y-%m-%d %H:%M %Z"))
    return Text(str(value))


def local_time(value: datetime, zone: str) -> str:
    """Format an aware time in ``zone``, with the zone's abbreviation or offset."""
    return to_local(value, zone).strftime("%Y-%m-%d %H:%M %z")
