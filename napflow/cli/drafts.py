"""Commands on a plan's drafts: add a version of its document, list them, get one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from napflow import services
from napflow.cli.context import AppState, pass_state, viewing_as
from napflow.cli.output import View, local_time, present
from napflow.errors import InputError
from napflow.inputs import printable


@click.group("draft")
def draft_group() -> None:
    """Add, list and get the versions (drafts) of a plan's document, each sealed in its history."""


@draft_group.command("add")
@click.argument("key")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--as",
    "as_email",
    metavar="EMAIL",
    help="Add it as this person, who must hold a role the workflow lets add drafts (recorded "
    "as theirs); else it is the administrator's.",
)
@click.option("--note", help="What changed in this version (kept in the history).")
@pass_state
def draft_add(
    state: AppState, key: str, file: Path, as_email: str | None, note: str | None
) -> None:
    """Add FILE as plan KEY's next draft; print its version."""
    try:
        source = file.open("rb")
    except OSError as exc:
        # the path as typed, escaped: a line break in it cannot start another line
        raise InputError(f"Cannot read {printable(str(file))}: {exc.strerror}.") from None
    with source:
        done = services.drafts.add_draft(state.runtime(), key, source, file.name, as_email, note)
    click.echo(
        f"{done.plan}: draft v{done.version} ({done.file_name}, {done.size:,} bytes, "
        f"{done.media_type}), sha256 {done.sha256}."
    )


@draft_group.command("list")
@click.argument("key")
@viewing_as
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_state
def draft_list(state: AppState, key: str, as_email: str | None, fmt: str) -> None:
    """List plan KEY's drafts, oldest first."""
    found = services.drafts.list_drafts(state.runtime(), key, viewer=as_email)
    present(
        found,
        fmt,
        View(
            f"Drafts of {key.upper()}",
            [
                ("version", lambda d: f"v{d.version}"),
                ("file", lambda d: d.file_name),
                ("bytes", lambda d: f"{d.size:,}"),
                ("type", lambda d: d.media_type),
                ("added (UTC)", lambda d: local_time(d.added_at, "UTC")),
                ("by", lambda d: d.added_by or "administrator"),
                ("sha256", lambda d: d.sha256),
                ("note", lambda d: d.note or ""),
            ],
            empty=f"{key.upper()} has no draft yet.",
        ),
    )


@draft_group.command("get")
@click.argument("key")
@click.argument("version", required=False, type=click.IntRange(1, 2**31 - 1))
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (replaced whole, or not at all).",
)
@viewing_as
@pass_state
def draft_get(
    state: AppState, key: str, version: int | None, out: Path, as_email: str | None
) -> None:
    """Write draft VERSION of plan KEY (the current one if not given) to --out."""
    if not out.parent.is_dir():
        raise InputError(f"Cannot write {out}: give a file path in an existing directory.")
    found, chunks = services.drafts.read_draft(state.runtime(), key, version, viewer=as_email)
    # written aside and renamed: a draft is there whole, checked against its digest, or not
    handle, aside = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(handle, "wb") as target:
            for chunk in chunks:
                target.write(chunk)
        os.replace(aside, out)
    except BaseException:
        Path(aside).unlink(missing_ok=True)
        raise
    click.echo(f"Wrote {found.plan} draft v{found.version} ({found.size:,} bytes) to {out}.")


@draft_group.command("diff")
@click.argument("key")
@click.argument("old", type=click.IntRange(1, 2**31 - 1))
@click.argument("new", type=click.IntRange(1, 2**31 - 1))
@viewing_as
@pass_state
def draft_diff(state: AppState, key: str, old: int, new: int, as_email: str | None) -> None:
    """Show what changed from draft OLD to draft NEW of plan KEY, word by word.

    Deleted words are marked [-like this-], inserted ones {+like this+}. A format without
    text (or a PDF of scanned pages) is said instead.
    """
    found = services.drafts.diff_drafts(state.runtime(), key, old, new, viewer=as_email)
    old_draft, new_draft = found.old, found.new
    title = (
        f"{old_draft.plan}: v{old_draft.version} ({old_draft.file_name}) -> "
        f"v{new_draft.version} ({new_draft.file_name})"
    )
    if found.comparison is None:
        click.echo(f"{title}\n{found.reason}")
        return
    comparison = found.comparison
    if comparison.same:
        click.echo(f"{title}: the same words.")
        return
    click.echo(f"{title}: {comparison.inserted} words inserted, {comparison.deleted} deleted.\n")
    # deleted and inserted runs marked as git's --word-diff=plain does
    marks = {"delete": "[-{}-]", "insert": "{{+{}+}}"}
    click.echo(
        "".join(
            marks[c.op].format(c.text) if c.op in marks and c.text.strip() else c.text
            for c in comparison.changes
        )
    )


COMMANDS = [draft_group]
