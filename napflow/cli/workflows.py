"""``napflow workflow list|show|check``: the workflow files."""

from __future__ import annotations

from operator import itemgetter
from pathlib import Path

import click

from napflow import services
from napflow.cli.context import AppState, pass_state
from napflow.cli.output import View, present


@click.group("workflow")
def workflow_group() -> None:
    """List, show and check workflow definitions."""


@workflow_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_state
def workflow_list(state: AppState, fmt: str) -> None:
    """List the workflows napflow knows, and any file that failed to load."""
    rows = [
        {
            "name": e.name,
            "version": e.version,
            "title": e.title,
            "file": e.file,
            "problems": list(e.problems),
        }
        for e in services.workflows.list_workflows(state.runtime())
    ]
    present(
        rows,
        fmt,
        View(
            "Workflows",
            [
                ("name", itemgetter("name")),
                ("version", itemgetter("version")),
                ("title", lambda r: r["title"] or "INVALID: napflow workflow check FILE"),
                ("file", itemgetter("file")),
            ],
            empty="No workflows.",
        ),
    )


@workflow_group.command("show")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid"]), default="text")
@pass_state
def workflow_show(state: AppState, name: str, fmt: str) -> None:
    """Print a workflow's states and transitions, as text or as a Mermaid diagram."""
    click.echo(services.workflows.describe_workflow(state.runtime(), name, fmt))


@workflow_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def workflow_check(file: Path) -> None:
    """Validate a workflow file, reporting every problem at once (exit 2 if any).

    Also says which languages its titles are only partly translated to (a warning: the
    titles not translated show in the file's own language).
    """
    checked = services.workflows.check_workflow_file(file)
    click.echo(
        f"{checked.file_name}: OK, workflow {checked.name} v{checked.version}: "
        f"{checked.states} states, {checked.transitions} transitions, {checked.roles} roles."
    )
    for locale, untranslated in sorted(checked.untranslated.items()):
        if not untranslated:
            click.echo(f"  titles in {locale}: all translated.")
    for locale, missing in sorted(checked.partial.items()):
        click.echo(
            f"  warning: titles in {locale}: {len(missing)} not translated "
            f"(they show in English): {', '.join(missing)}"
        )


COMMANDS = [workflow_group]
