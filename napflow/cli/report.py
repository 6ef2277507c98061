"""Reports for auditors and coordinators: how long plans spend where, and why they return."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

import click

from napflow import services
from napflow.cli.context import AppState, pass_state
from napflow.cli.output import Cell, View, local_time, present
from napflow.inputs import parse_day


@click.group("report")
def report_group() -> None:
    """Report on plans from their history."""


@report_group.command("durations")
@click.option(
    "--as-of", "as_of", metavar="DATE", help="Up to the end of this day (YYYY-MM-DD), not now."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    help="table for people; json or csv for scripts and spreadsheets.",
)
@pass_state
def durations(state: AppState, as_of: str | None, fmt: str) -> None:
    """Days each plan spent in each state, its rounds of review and its returns (with reasons).

    The last line is the median per state across the plans that were in it. A plan's current
    state counts up to now (or the end of --as-of); a final state counts no time. A round is
    one departure from the workflow's initial state; a return is a transition back into it.
    """
    report = services.durations(state.runtime(), parse_day(as_of, "--as-of") if as_of else None)
    until = f"the end of {report.as_of}" if report.as_of else "now"
    present(
        report,
        fmt,
        View(
            f"Days in each state, up to {until}",
            [
                ("plan", attrgetter("key")),
                ("state", attrgetter("state")),
                ("rounds", attrgetter("rounds")),
                ("returns", attrgetter("returns")),
                *((s, _days_in(s, shown=True)) for s in report.states),
            ],
            empty=f"No plans to report on, up to {until}.",
            csv=[
                ("plan", attrgetter("key")),
                ("workflow", attrgetter("workflow")),
                ("state", attrgetter("state")),
                ("rounds", attrgetter("rounds")),
                ("returns", attrgetter("returns")),
                *((s, _days_in(s, shown=False)) for s in report.states),
                ("return_reasons", attrgetter("reasons")),
            ],
            items=_rows,
        ),
        View(
            "Returns",
            [
                ("plan", lambda pr: pr[0].key),
                ("at (plan's zone)", lambda pr: local_time(pr[1].at, pr[0].timezone)),
                ("from", lambda pr: pr[1].from_state),
                ("trigger", lambda pr: pr[1].trigger),
                ("by", lambda pr: pr[1].actor),
                ("reason", lambda pr: pr[1].reason),
            ],
            items=lambda report: [(p, r) for p in report.plans for r in p.returns],
        ),
    )


@dataclass(frozen=True)
class _Row:
    """A line of the report: a plan's, or the medians across plans."""

    key: str
    workflow: str
    state: str
    rounds: int | str
    returns: int | str
    days: dict[str, float]
    reasons: str


def _rows(report: services.DurationsReport) -> list[_Row]:
    rows = [
        _Row(p.key, p.workflow, p.state, p.rounds, len(p.returns), p.days, _reasons(p))
        for p in report.plans
    ]
    if rows:
        rows.append(_Row("median", "", "", "", "", report.median_days, ""))
    return rows


def _days_in(state: str, shown: bool) -> Cell:
    """Return the cell of a state's days: as the table shows it (one decimal), or as is."""
    if shown:
        return lambda row: _days(row.days.get(state))
    return lambda row: row.days.get(state)


def _reasons(plan: services.PlanDurations) -> str:
    return " | ".join(r.reason or "" for r in plan.returns)


def _days(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


COMMANDS = [report_group]
