"""``napflow workflow list|show|check``: the workflow files."""

from __future__ import annotations

from pathlib import Path

import click

from napflow.cli import AppState, pass_state
from napflow.cli.output import emit_json, emit_table
from napflow.workflow.definition import load_definition
from napflow.workflow.diagram import mermaid, text_outline


@click.group("workflow")
def workflow_group() -> None:
    """List, show and check workflow definitions."""


@workflow_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_state
def workflow_list(state: AppState, fmt: str) -> None:
    """List the workflows napflow knows, and any file that failed to load."""
    entries = state.runtime().catalog.entries()
    rows = [
        {
            "name": e.name,
            "version": e.definition.version if e.definition else None,
            "title": e.definition.title if e.definition else None,
            "file": str(e.path),
            "problems": list(e.problems),
        }
        for e in entries
    ]
    if fmt == "json":
        emit_json(rows)
        return
    emit_table(
        "Workflows",
        ["name", "version", "title", "file"],
        [
            [
                r["name"],
                r["version"],
                r["title"] or "INVALID: napflow workflow check FILE",
                r["file"],
            ]
            for r in rows
        ],
    )


@workflow_group.command("show")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid"]), default="text")
@pass_state
def workflow_show(state: AppState, name: str, fmt: str) -> None:
    """Print a workflow's states and transitions, as text or as a Mermaid diagram."""
    definition = state.runtime().catalog.get(name)
    click.echo(mermaid(definition) if fmt == "mermaid" else text_outline(definition))


@workflow_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def workflow_check(file: Path) -> None:
    """Validate a workflow file, reporting every problem at once (exit 2 if any)."""
    definition = load_definition(file)
    click.echo(
        f"{file.name}: OK, workflow {definition.name} v{definition.version}: "
        f"{len(definition.states)} states, {len(definition.transitions)} transitions, "
        f"{len(definition.roles)} roles."
    )


COMMANDS = [workflow_group]
