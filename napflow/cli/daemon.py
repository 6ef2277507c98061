"""``napflow scheduler``: the reminder daemon."""

from __future__ import annotations

import logging

import click

from napflow.cli import AppState, pass_state
from napflow.scheduler import run_scheduler


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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    rt = state.runtime()
    run_scheduler(rt, poll_seconds or rt.settings.poll_seconds)


COMMANDS = [scheduler_command]
