"""``napflow scheduler`` (the reminder daemon) and ``napflow simulate``."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from napflow import services
from napflow.cli.context import AppState, pass_state
from napflow.cli.output import View, present


@click.command("scheduler")
@click.option(
    "--poll",
    "poll_seconds",
    type=click.IntRange(min=1),
    metavar="SECONDS",
    help="How often to look for due messages (default from [scheduler]).",
)
@pass_state
def scheduler_command(state: AppState, poll_seconds: int | None) -> None:
    """Run the daemon that sends reminders, escalations and notices (stop with Ctrl-C)."""
    from napflow.runtime import logs
    from napflow.scheduler.daemon import run_scheduler

    logs.configure()
    rt = state.runtime()
    rt.db.require_current_schema()  # a missing or outdated database fails here, at once
    run_scheduler(rt, poll_seconds or rt.settings.poll_seconds)


@click.command("simulate")
@click.option("--from", "start", required=True, metavar="DATE", help="First day (YYYY-MM-DD).")
@click.option("--to", "end", required=True, metavar="DATE", help="Last day (YYYY-MM-DD).")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the .eml files.",
)
@click.option(
    "--scenario",
    metavar="FILE|NAME",
    help="A scenario file, or a shipped one by name (tajikistan-2015); without "
    "it, a forecast from a copy of the current database.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_state
def simulate_command(
    state: AppState, start: str, end: str, out: Path, scenario: str | None, fmt: str
) -> None:
    """Run the reminders on a virtual clock and write every e-mail they send to --out."""
    from napflow.runtime.bootstrap import build_runtime

    rt = state.runtime()
    # the simulation's own runtime gets the secrets this one read (read once)
    wire = functools.partial(build_runtime, secrets=rt.secrets)
    sent = services.simulate.simulate(rt, wire, start, end, out, scenario)
    present(
        sent,
        fmt,
        View(
            _simulated(sent, out),
            [
                ("sent (recipient's time)", lambda m: m.local_time),
                ("to", lambda m: m.recipient or "(napflow itself)"),
                ("kind", lambda m: m.kind),
                ("plan", lambda m: m.plan),
                ("subject", lambda m: m.subject),
            ],
            empty=f"No messages would be sent from {start.strip()} to {end.strip()}.",  # as parsed
        ),
    )


def _simulated(sent: list[services.simulate.SimulatedMessage], out: Path) -> str:
    """Return the title of a simulation's table: the messages, and what napflow did itself."""
    timers = sum(1 for m in sent if m.kind == "timer")
    title = f"{len(sent) - timers} messages, written to {out}"
    return f"{title}; {timers} done by napflow itself" if timers else title


COMMANDS = [scheduler_command, simulate_command]
