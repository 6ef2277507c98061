"""The audit commands: verify the ledger or a bundle, print its head digest, export it.

Also: seal a checkpoint for the witnesses, and make the key pair that signs bundles and
checkpoints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from napflow import services
from napflow.cli.context import AppState, pass_state
from napflow.cli.output import View, present
from napflow.errors import RefusedError

if TYPE_CHECKING:
    from napflow.services.audit import VerifyReport


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
    "--witness",
    "witness",
    multiple=True,
    metavar="PATH",
    help="Also check against the checkpoints in PATH: a mailbox (mbox or Maildir), a folder "
    "of .eml files, checkpoint files or a folder of them (repeatable).",
)
@click.option(
    "--public-key",
    metavar="FILE",
    help="The Ed25519 public key (PEM) the bundle and the checkpoints must be signed with.",
)
@click.option(
    "--incremental",
    is_flag=True,
    help="Check only the records added since the last verification, each chain linked to "
    "the head verified then (a full run, the default, re-hashes everything).",
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
    witness: tuple[str, ...],
    public_key: str | None,
    incremental: bool,
    fmt: str,
) -> int:
    """Check every plan's hash chain (or plan KEY's) and that each plan is where it leads.

    Names each record that was edited, removed, reordered or forged, and plans whose state
    was changed behind the ledger's back; exit 1 if anything is wrong. Records sealed with
    an audit key need NAPFLOW_AUDIT_KEY; with it set, every record must be sealed with it.
    With --witness, also names every record a checkpoint sealed that is gone, changed or
    sealed again; with --public-key, the bundle and the checkpoints must be signed with it.
    A verification of the whole database is stored (the audit page shows the last one);
    --incremental checks only what was added since.
    """
    if public_key is not None and bundle is None and not witness:
        raise click.UsageError("--public-key checks a --bundle or the checkpoints of --witness")
    if witness and key is not None:
        raise click.UsageError("give either KEY or --witness, not both")
    if incremental and (key is not None or bundle is not None):
        raise click.UsageError("--incremental verifies the whole database: give no KEY or --bundle")
    if public_key is not None:
        services.signing.load_public_key(public_key)  # a bad key file: exit 2 before the work
    found = services.checkpoints.read_witnesses(witness) if witness else []
    if bundle is not None:
        if key is not None:
            raise click.UsageError("give either KEY or --bundle, not both")
        # an auditor's machine: no database, no configuration needed, only the key
        audit_key = state.secrets().audit_key
        report = services.audit.verify_bundle(
            bundle, audit_key, head, allow_unkeyed, public_key=public_key
        )
        if found:
            report = services.checkpoints.verify_witnessed_bundle(
                bundle, report, found, public_key, audit_key
            )
    elif key is None:  # the whole database: the verification is stored
        rt = state.runtime()
        done = services.audit.verify_and_record(
            rt,
            incremental=incremental,
            head=head,
            workers=workers,
            allow_unkeyed=allow_unkeyed,
        )
        report = done.report
        if found:
            report = services.checkpoints.verify_witnessed(rt, report, found, public_key)
        if done.not_stored is not None:
            click.echo(f"The result was not stored: {done.not_stored}", err=True)
        present((report, done), fmt, RECORDED)
        return 0 if report.ok else 1
    else:
        rt = state.runtime()
        report = services.audit.verify_ledger(rt, key, head, workers, allow_unkeyed)
        if found:
            report = services.checkpoints.verify_witnessed(rt, report, found, public_key)
    present(report, fmt, VERIFIED)
    return 0 if report.ok else 1


def _numbers(report: VerifyReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "plans": report.plans,
        "records": report.records,
        "head": report.head,
        "problems": report.problems,
        "notes": list(report.notes),
    }


def _lines(report: VerifyReport) -> list[str]:
    return [*map(str, report.problems), *report.notes, report.summary()]


#: a verification's report: every problem, then the summary; for scripts, its numbers
VERIFIED = View(None, json=_numbers, text=_lines)
#: the same, of a verification that was stored: (the report, the stored verification)
RECORDED = View(
    None,
    json=lambda found: {
        **_numbers(found[0]),
        "site_records": found[0].site_records,
        "verification": {
            "id": found[1].id,
            "ran_at": found[1].ran_at,
            "ran_by": found[1].ran_by,
            "incremental": found[1].incremental,
            "countries": found[1].countries,
            "stored": found[1].id is not None,
        },
    },
    text=lambda found: _lines(found[0]),
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


@audit_group.command("checkpoint")
@click.option(
    "--out",
    metavar="PATH",
    help="Also write the checkpoint to this file (or into this folder); never replaces one.",
)
@pass_state
def audit_checkpoint(state: AppState, out: str | None) -> int:
    """Seal the ledger's state now and send it to the witnesses ([audit] in config.toml).

    The checkpoint holds the head digest, each plan's newest record and record count and
    the site ledger's newest record, signed with NAPFLOW_AUDIT_SIGNING_KEY (else an HMAC
    with NAPFLOW_AUDIT_KEY, else unsigned). It is mailed to each of [audit] witnesses and
    filed in [audit] witness_dir. Exit 1 if a witness could not be reached.
    """
    done = services.checkpoints.checkpoint_now(state.runtime(), out)
    for line in done.lines():
        click.echo(line)
    missed = [d for d in done.deliveries if not d.ok]
    if missed:
        raise RefusedError(
            f"The checkpoint did not reach {len(missed)} of {len(done.deliveries)} witnesses "
            "(see above); it was sealed, and reaches them at the next checkpoint."
        )
    return 0


@audit_group.command("keygen")
@click.option("--out", required=True, metavar="DIR", help="The folder to write the two files to.")
def audit_keygen(out: str) -> None:
    """Make the Ed25519 key pair that signs bundles and checkpoints.

    Writes the private key (mode 0600: set NAPFLOW_AUDIT_SIGNING_KEY to its path on the
    napflow server) and the public key (for auditors: `audit verify --public-key`). Never
    replaces a file.
    """
    made = services.signing.generate_keys(out)
    click.echo(f"Wrote the private key to {made.private} (mode 0600: keep it on the napflow")
    click.echo("server only, and set NAPFLOW_AUDIT_SIGNING_KEY to its path)")
    click.echo(f"and the public key to {made.public} (for auditors: --public-key).")
    click.echo(f"Key {made.fingerprint}")


COMMANDS = [audit_group]
