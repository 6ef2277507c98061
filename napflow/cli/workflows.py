"""``napflow workflow list|show|check|versions|diff|migrate``: workflow files and versions."""

from __future__ import annotations

import json
from operator import attrgetter, itemgetter
from pathlib import Path

import click

from napflow import services
from napflow.cli.context import AppState, admin_as, pass_state
from napflow.cli.output import View, local_time, present


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
@click.option(
    "--version",
    "version",
    type=click.IntRange(1),
    help="A version the database stores (default: the file's).",
)
@pass_state
def workflow_show(state: AppState, name: str, fmt: str, version: int | None) -> None:
    """Print a workflow's states and transitions, as text or as a Mermaid diagram."""
    click.echo(services.workflows.describe_workflow(state.runtime(), name, fmt, version))


@workflow_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--db",
    "db_url",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[URL]",
    help="Also check the file against this database (alone: the configured one): a "
    "version stored with other text, and the plans this version would strand.",
)
@pass_state
def workflow_check(state: AppState, file: Path, db_url: str | None) -> None:
    """Validate a workflow file, reporting every problem at once (exit 2 if any).

    Also says which languages its titles are only partly translated to (a warning: the
    titles not translated show in the file's own language). With ``--db``, refuses a file
    whose version the database stores with other text, and names each plan on another
    version whose state this one lacks, with the mapping that would move it.
    """
    checked = services.workflows.check_workflow_file(file)
    stranded: list[services.workflow_versions.Stranded] = []
    if db_url is not None:
        if db_url:
            state.db_url = db_url
        rt = state.runtime()
        services.workflow_versions.check_against_database(rt, checked.definition)
        stranded = services.workflow_versions.stranded_plans(rt, checked.definition)
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
    for plan in stranded:
        fix = (
            f"--map-state {plan.state}={plan.suggestion}"
            if plan.suggestion
            else (f"--map-state {plan.state}=STATE")
        )
        click.echo(
            f"  stranded: {plan.key} (v{plan.version}) is in {plan.state!r}, which "
            f"v{checked.version} does not have; move it with: napflow workflow migrate "
            f"{checked.name} --to {checked.version} {fix} --plan {plan.key}"
        )


@workflow_group.command("versions")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_state
def workflow_versions(state: AppState, name: str, fmt: str) -> None:
    """List the versions of a workflow: stored ones, the file's, and the plans on each."""
    rt = state.runtime()
    found = services.workflow_versions.list_versions(rt, name)
    present(
        found,
        fmt,
        View(
            f"Versions of workflow {name}",
            [
                ("version", lambda v: f"v{v.version}"),
                ("stored", lambda v: local_time(v.stored_at, "UTC") if v.stored_at else "not yet"),
                ("file", lambda v: "yes" if v.in_file else ""),
                ("plans", attrgetter("plans")),
                ("digest", lambda v: v.digest[:12]),
            ],
        ),
    )


@workflow_group.command("diff")
@click.argument("name")
@click.argument("old", type=click.IntRange(1))
@click.argument("new", type=click.IntRange(1))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_state
def workflow_diff(state: AppState, name: str, old: int, new: int, fmt: str) -> None:
    """Say what changed between two versions of a workflow, section by section."""
    found = services.workflow_versions.diff_versions(state.runtime(), name, old, new)
    present(found, fmt, View(None, text=_diff_lines))


def _diff_lines(diff: services.workflow_versions.WorkflowDiff) -> list[str]:
    if not diff.changes:
        return [f"{diff.name} v{diff.old} and v{diff.new} say the same."]
    lines = [f"{diff.name}: from v{diff.old} to v{diff.new}"]
    section = None
    for change in diff.changes:
        if change.section != section:
            section = change.section
            lines.append(f"{section}:")
        mark = {"added": "+", "removed": "-", "changed": "~"}[change.how]
        lines.append(f"  {mark} {change.name} ({change.how})")
        if change.how == "changed":
            lines += _changed_lines(change.before, change.after)
    return lines


def _changed_lines(before: object, after: object) -> list[str]:
    """Return the settings that differ: each key's value before and after."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = [*before, *(k for k in after if k not in before)]
        return [
            f"      {k}: {json.dumps(before.get(k), ensure_ascii=False)} -> "
            f"{json.dumps(after.get(k), ensure_ascii=False)}"
            for k in keys
            if before.get(k) != after.get(k)
        ]
    return [
        f"      {json.dumps(before, ensure_ascii=False)} -> {json.dumps(after, ensure_ascii=False)}"
    ]


@workflow_group.command("migrate")
@click.argument("name")
@click.option("--to", "to", type=click.IntRange(1), required=True, help="The version to move to.")
@click.option(
    "--map-state",
    "pairs",
    multiple=True,
    metavar="OLD=NEW",
    help="Move plans in state OLD (which the new version lacks) to its state NEW; repeatable.",
)
@click.option("--plan", "key", metavar="KEY", help="Move this plan.")
@click.option("--all", "every", is_flag=True, help="Move every plan of the workflow not on it.")
@click.option("--dry-run", is_flag=True, help="Write nothing: say what would move, and what not.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@admin_as
@pass_state
def workflow_migrate(
    state: AppState,
    name: str,
    to: int,
    pairs: tuple[str, ...],
    key: str | None,
    every: bool,
    dry_run: bool,
    fmt: str,
    as_email: str | None,
) -> int:
    """Move plans to another version of their workflow, each with a sealed record.

    Exit 1 if a plan was (or, in a dry run, would be) refused: its state is not in the
    new version and no --map-state maps it.
    """
    versions = services.workflow_versions
    result = versions.migrate_plans(
        state.runtime(),
        name,
        to,
        mapping=versions.parse_mapping(pairs),
        key=key,
        every=every,
        dry_run=dry_run,
        actor=as_email,
    )
    verb = "would move" if dry_run else "moved"
    present(
        result,
        fmt,
        View(
            f"Plans {'that would move' if dry_run else 'moved'} to {name} v{to}",
            [
                ("plan", attrgetter("key")),
                ("from", lambda m: f"v{m.old} {m.from_state}"),
                ("to", lambda m: f"v{m.new} {m.to_state}"),
            ],
            empty=f"No plan {verb} to {name} v{to}.",
            items=attrgetter("moved"),
        ),
        View(
            "Refused" if not dry_run else "Would be refused",
            [("plan", attrgetter("key")), ("reason", attrgetter("reason"))],
            items=attrgetter("refused"),
        ),
    )
    return 1 if result.refused else 0


COMMANDS = [workflow_group]
