"""Presenting results: rich tables for people, JSON and CSV for scripts.

A command hands its service's result, the chosen ``--format`` and a :class:`View` (what
the table shows, what to say when there is nothing, what CSV carries) to :func:`present`,
which prints it in that format; no command has a branch per format.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import click

from napflow.timezones import to_local

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


#: how a column gets its cell from an item of the result
Cell = Callable[[Any], Any]


def _itself(result: Any) -> Any:
    return result


@dataclass(frozen=True)
class View:
    """How a command's result looks in each format.

    ``columns`` are the table's, each a heading and how to get its cell from an item;
    ``empty`` is the sentence a table gives when there are no items (None: say nothing);
    ``csv`` the CSV columns, where the command offers CSV. ``items`` gives the items of the
    result (the result itself, a list, if not given) and ``json`` what JSON shows (the
    result itself); ``text`` the lines of a ``text`` format, where a command has one.
    """

    title: str | None
    columns: Sequence[tuple[str, Cell]] = ()
    empty: str | None = None
    csv: Sequence[tuple[str, Cell]] | None = None
    items: Callable[[Any], Iterable[Any]] = _itself
    json: Callable[[Any], Any] = _itself
    text: Callable[[Any], Iterable[str]] | None = None


def present(result: Any, fmt: str, view: View, *more: View) -> None:
    """Print ``result`` as ``fmt`` (table, json, csv or text) the way ``view`` says.

    In a table, ``more`` views of the same result follow the first one (JSON and CSV show
    the first view only). A table with no items is a sentence (``view.empty``) instead of
    an empty frame; JSON is then ``[]`` and CSV its header line.
    """
    if fmt == "json":
        emit_json(view.json(result))
    elif fmt == "csv":
        if view.csv is None:
            raise ValueError(f"the view {view.title!r} has no CSV columns")
        emit_csv(
            [heading for heading, _ in view.csv],
            [[cell(item) for _, cell in view.csv] for item in view.items(result)],
        )
    elif fmt == "text":
        if view.text is None:
            raise ValueError(f"the view {view.title!r} has no text form")
        for line in view.text(result):
            click.echo(line)
    else:
        for shown in (view, *more):
            items = list(shown.items(result))
            if items:
                emit_table(
                    shown.title,
                    [heading for heading, _ in shown.columns],
                    [[cell(item) for _, cell in shown.columns] for item in items],
                )
            elif shown.empty is not None:
                click.echo(shown.empty)


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
