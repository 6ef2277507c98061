"""The audit commands: verify the ledger or a bundle, print its head digest, export it."""

from __future__ import annotations

import click

from napflow import services
from napflow.cli.context import AppState, pass_state
from napflow.cli.output import View, present


@click.group("audit")
def audit_group() -> None:
    """Check that the history is intact; hand it to auditors."""


@audit_group.command("verify")
@click.argument("key", required=False)
@click.option("--head", "head", metavar="DIGEST", help="Also prove the head digest is still this.")
@click.option(
    "--bundle",
    metavar="FILE",
    help="Check an exported bundle instead of the database (needs no database).",
)
@click.option(
    "--allow-unkeyed",
    is_flag=True,
    help="Accept plain SHA-256 records before a chain's first keyed one "
    "(a ledger that got its key after it began).",
)
@click.option(
    "--workers",
    type=int,
    metavar="N",
    help="Processes to share a large ledger (default: one per CPU from 200,000 records).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="text for people, json for scripts.",
)
@pass_state
def audit_verify(
    state: AppState,
    key: str | None,
    head: str | None,
    bundle: str | None,
    allow_unkeyed: bool,
    workers: int | None,
    fmt: str,
) -> int:
    """Check every plan's hash chain (or plan KEY's) and that each plan is where it leads.

    Names each record that was edited, removed, reordered or forged, and plans whose state
    was changed behind the ledger's back; exit 1 if anything is wrong. Records sealed with
    an audit key need NAPFLOW_AUDIT_KEY; with it set, every record must be sealed with it.
    """
    if bundle is not None:
        if key is not None:
            raise click.UsageError("give either KEY or --bundle, not both")
        # an auditor's machine: no database, no configuration needed, only the key
        report = services.audit.verify_bundle(
            bundle, state.secrets().audit_key, head, allow_unkeyed
        )
    else:
        report = services.audit.verify_ledger(state.runtime(), key, head, workers, allow_unkeyed)
    present(report, fmt, VERIFIED)
    return 0 if report.ok else 1


#: a verification's report: every problem, then the summary; for scripts, its numbers
VERIFIED = View(
    None,
    json=lambda report: {
        "ok": report.ok,
        "plans": report.plans,
        "records": report.records,
        "head": report.head,
        "problems": report.problems,
    },
    text=lambda report: [*map(str, report.problems), report.summary()],
)


@audit_group.command("head")
@pass_state
def audit_head(state: AppState) -> None:
    """Print one digest over every plan's chain head: write it down, or send it elsewhere.

    `napflow audit verify --head DIGEST` later proves nothing changed since.
    """
    click.echo(services.audit.ledger_head(state.runtime()).head)


@audit_group.command("export")
@click.argument("key", required=False)
@click.option("--out", required=True, metavar="FILE", help="Where to write the bundle.")
@click.option(
    "--with-drafts",
    is_flag=True,
    help="Include every draft's file: the bundle is then a ZIP (bundle.json and drafts/).",
)
@pass_state
def audit_export(state: AppState, key: str | None, out: str, with_drafts: bool) -> None:
    """Write the ledger (or plan KEY's) as a self-contained bundle for auditors."""
    done = services.audit.export_bundle(state.runtime(), out, key, with_drafts)
    click.echo(
        f"Wrote {done.records} records of {done.plans} plans to {done.path}; head {done.head}."
    )


COMMANDS = [audit_group]
