"""Reports for auditors and coordinators: how long plans spend where, and why they return."""

from __future__ import annotations

import click

from napflow import services
from napflow.cli.context import AppState, pass_state
from napflow.cli.output import emit_csv, emit_json, emit_table, local_time
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
    if fmt == "json":
        emit_json(report)
        return
    days = [[p.days.get(s) for s in report.states] for p in report.plans]
    if fmt == "csv":
        emit_csv(
            ["plan", "workflow", "state", "rounds", "returns", *report.states, "return_reasons"],
            [
                [p.key, p.workflow, p.state, p.rounds, len(p.returns), *d, _reasons(p)]
                for p, d in zip(report.plans, days, strict=True)
            ]
            + [["median", "", "", "", "", *(report.median_days[s] for s in report.states), ""]]
            * bool(report.plans),
        )
        return
    until = f"the end of {report.as_of}" if report.as_of else "now"
    emit_table(
        f"Days in each state, up to {until}",
        ["plan", "state", "rounds", "returns", *report.states],
        [
            [p.key, p.state, p.rounds, len(p.returns), *(_days(v) for v in d)]
            for p, d in zip(report.plans, days, strict=True)
        ]
        + [["median", "", "", "", *(_days(report.median_days[s]) for s in report.states)]]
        * bool(report.plans),
    )
    returns = [(p, r) for p in report.plans for r in p.returns]
    if returns:
        emit_table(
            "Returns",
            ["plan", "at (plan's zone)", "from", "trigger", "by", "reason"],
            [
                [p.key, local_time(r.at, p.timezone), r.from_state, r.trigger, r.actor, r.reason]
                for p, r in returns
            ],
        )


def _reasons(plan: services.PlanDurations) -> str:
    return " | ".join(r.reason or "" for r in plan.returns)


def _days(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


COMMANDS = [report_group]
