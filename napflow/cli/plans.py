"""Commands on plans, roles and actions: parse, call one service, present."""

from __future__ import annotations

from datetime import date
from operator import attrgetter
from typing import Any

import click

from napflow import services
from napflow.cli.context import AppState, acting_as, admin_as, pass_state, viewing_as
from napflow.cli.output import View, local_time, present
from napflow.inputs import parse_day, plan_key

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    help="table for people, json for scripts.",
)


@click.group("plan")
def plan_group() -> None:
    """Create, list and show plans."""


@plan_group.command("create")
@click.option("--country", required=True, metavar="ISO3", help="ISO 3166-1 alpha-3, e.g. TJK.")
@click.option("--title", required=True)
@click.option("--workflow", default="nap", show_default=True)
@click.option("--timezone", metavar="ZONE", help="The plan's zone; deadlines end at its midnight.")
@click.option("--key", help="Plan key, e.g. TJK-2015 (default: COUNTRY-N).")
@click.option(
    "--locale",
    metavar="LANG",
    help="Language of mails to people on the plan who chose none, e.g. ru (default: en).",
)
@admin_as
@pass_state
def plan_create(
    state: AppState,
    country: str,
    title: str,
    workflow: str,
    timezone: str | None,
    key: str | None,
    locale: str | None,
    as_email: str | None,
) -> None:
    """Create a plan; print its key."""
    plan = services.create_plan(
        state.runtime(), country, title, workflow, timezone, key, actor=as_email, locale=locale
    )
    click.echo(plan.key)


@plan_group.command("edit")
@click.argument("key")
@click.option("--title", help="A new title.")
@click.option("--timezone", metavar="ZONE", help="A new zone (IANA name), e.g. Asia/Dushanbe.")
@click.option(
    "--locale",
    metavar="LANG",
    help='Language of mails to people who chose none, e.g. ru ("" for English).',
)
@admin_as
@pass_state
def plan_edit(
    state: AppState,
    key: str,
    title: str | None,
    timezone: str | None,
    locale: str | None,
    as_email: str | None,
) -> None:
    """Change plan KEY's title, time zone or mail language (recorded in its history)."""
    plan = services.edit_plan(
        state.runtime(), key, title=title, timezone=timezone, locale=locale, actor=as_email
    )
    click.echo(f"{plan.key}: {plan.title} ({plan.timezone}), version {plan.version}.")


@plan_group.command("list")
@click.option("--state", "in_state", metavar="STATE", help="Only plans in this state.")
@click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    help="Where every plan stood at the end of this day (YYYY-MM-DD, in each plan's zone).",
)
@viewing_as
@FORMAT
@pass_state
def plan_list(
    state: AppState, in_state: str | None, as_of: str | None, as_email: str | None, fmt: str
) -> None:
    """Show the dashboard: every plan, its state and when it last changed."""
    if as_of is not None:
        _plan_list_as_of(state, parse_day(as_of, "--as-of"), in_state, as_email, fmt)
        return
    plans = services.list_plans(state.runtime(), in_state, viewer=as_email)
    present(
        plans,
        fmt,
        View(
            "Plans",
            [
                ("key", lambda p: p.key),
                ("country", lambda p: p.country_name),
                ("title", lambda p: p.title),
                ("workflow", lambda p: p.workflow),
                ("state", lambda p: p.state),
                ("version", lambda p: p.version),
                ("last change (local)", lambda p: local_time(p.updated_at, p.timezone)),
            ],
            empty=f"No plans in {in_state}." if in_state else "No plans.",
        ),
    )


def _plan_list_as_of(
    state: AppState, day: date, in_state: str | None, as_email: str | None, fmt: str
) -> None:
    found = services.plans_as_of(state.runtime(), day, in_state, viewer=as_email)
    where = f" in {in_state}" if in_state else ""
    present(
        found,
        fmt,
        View(
            f"Plans at the end of {day.isoformat()} (each in its own zone)",
            [
                ("key", lambda p: p.key),
                ("country", lambda p: p.country),
                ("title", lambda p: p.title),
                ("workflow", lambda p: p.workflow),
                ("state", lambda p: p.state),
                ("version", lambda p: p.version),
                ("in that state since", lambda p: local_time(p.since, p.timezone)),
            ],
            empty=f"No plans{where} at the end of {day.isoformat()}.",
        ),
    )


@plan_group.command("show")
@click.argument("key")
@click.option("--as", "as_email", metavar="EMAIL", help="List what this person may do now.")
@FORMAT
@pass_state
def plan_show(state: AppState, key: str, as_email: str | None, fmt: str) -> None:
    """Show one plan: state, version, roles and the triggers allowed now."""
    plan = services.show_plan(state.runtime(), key, as_email)
    present(
        plan,
        fmt,
        View(
            plan.key,
            [("", lambda row: row[0]), ("", lambda row: row[1])],
            items=lambda plan: _plan_fields(plan, as_email),
        ),
    )


def _plan_fields(plan: services.PlanView, as_email: str | None) -> list[tuple[str, Any]]:
    """One plan as a table of (what, value) rows."""
    who = f" for {as_email}" if as_email else ""
    rows: list[tuple[str, Any]] = [
        ("title", plan.title),
        ("country", f"{plan.country_name} ({plan.country})"),
        ("workflow", f"{plan.workflow} v{plan.workflow_version}"),
        ("state", plan.state),
        ("version", plan.version),
        ("time zone", plan.timezone),
        ("language of mails", plan.locale or "en"),
        ("last change", local_time(plan.updated_at, plan.timezone)),
        (f"allowed now{who}", ", ".join(plan.allowed or []) or "nothing"),
    ]
    rows += [(f"role {role}", ", ".join(emails)) for role, emails in plan.roles.items()]
    return rows


AS_MANAGER = acting_as("manage roles")


@click.group("role")
def role_group() -> None:
    """Grant, revoke and list roles on a plan."""


@role_group.command("grant")
@click.argument("key")
@click.argument("email")
@click.argument("role")
@AS_MANAGER
@click.option("--comment", help="Why (kept in the plan's history).")
@pass_state
def role_grant(
    state: AppState, key: str, email: str, role: str, as_email: str | None, comment: str | None
) -> None:
    """Give EMAIL the ROLE on plan KEY."""
    change = services.grant_role(state.runtime(), key, email, role, as_email, comment)
    verb = "Granted" if change.changed else "Already held:"
    click.echo(f"{verb} {change.role} on {change.key} to {change.email}.")


@role_group.command("revoke")
@click.argument("key")
@click.argument("email")
@click.argument("role")
@AS_MANAGER
@click.option("--comment", help="Why (kept in the plan's history).")
@pass_state
def role_revoke(
    state: AppState, key: str, email: str, role: str, as_email: str | None, comment: str | None
) -> None:
    """Take ROLE on plan KEY away from EMAIL."""
    change = services.revoke_role(state.runtime(), key, email, role, as_email, comment)
    verb = "Revoked" if change.changed else "Not held, nothing to revoke:"
    click.echo(f"{verb} {change.role} on {change.key} from {change.email}.")


@role_group.command("list")
@click.argument("key")
@viewing_as
@FORMAT
@pass_state
def role_list(state: AppState, key: str, as_email: str | None, fmt: str) -> None:
    """List who holds which role on plan KEY."""
    found = services.list_roles(state.runtime(), key, viewer=as_email)
    present(
        found,
        fmt,
        View(
            f"Roles on {key.upper()}",
            [("role", lambda r: r.role), ("email", lambda r: r.email), ("name", lambda r: r.name)],
            empty=f"No one holds a role on {plan_key(key)}.",
        ),
    )


@click.command("advance")
@click.argument("key")
@click.argument("trigger")
@click.option("--as", "as_email", required=True, metavar="EMAIL", help="Who is acting.")
@click.option("--comment", help="Why; required for returns and withdrawals.")
@click.option(
    "--expect-version",
    type=click.IntRange(min=1),
    metavar="N",
    help="Refuse if the plan is no longer at version N (someone acted since).",
)
@click.option(
    "--draft",
    type=click.IntRange(min=1, max=2**31 - 1),
    metavar="N",
    help="Refuse if the plan's current draft is no longer vN (a newer one was added since "
    "it was read); without, the action is on the current draft, and says so.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="text for people; json for scripts (a refusal too: its reasons, what is allowed now).",
)
@pass_state
def advance(
    state: AppState,
    key: str,
    trigger: str,
    as_email: str,
    comment: str | None,
    expect_version: int | None,
    draft: int | None,
    fmt: str,
) -> None:
    """Fire TRIGGER on plan KEY as the person --as."""
    done = services.advance_plan(
        state.runtime(), key, trigger, as_email, comment, expect_version, draft
    )
    present(done, fmt, View(None, text=_advanced))


def _advanced(done: services.AdvanceResult) -> list[str]:
    where = (
        f"{done.from_state} -> {done.to_state}"
        if done.from_state != done.to_state
        else f"stays in {done.to_state}"
    )
    return [
        f"{done.key}: {done.trigger} by {done.actor} as {done.role}: {where} "
        f"(version {done.version})."
    ]


@click.command("history")
@click.argument("key")
@click.option("--since", metavar="DATE", help="From this day on (YYYY-MM-DD, the plan's zone).")
@click.option("--until", metavar="DATE", help="Up to this day, included (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@viewing_as
@pass_state
def history(
    state: AppState, key: str, since: str | None, until: str | None, fmt: str, as_email: str | None
) -> None:
    """Show everything that happened to plan KEY, oldest first (times in the plan's zone).

    json and csv give times in UTC.
    """
    found = services.plan_history(
        state.runtime(),
        key,
        parse_day(since, "--since") if since is not None else None,
        parse_day(until, "--until") if until is not None else None,
        viewer=as_email,
    )
    fields = ["seq", "at", "kind", "trigger", "from_state", "to_state", "actor", "role"]
    raw = [(name, attrgetter(name)) for name in fields]
    zone = found.timezone
    period = " in that period" if since is not None or until is not None else ""
    present(
        found.records,
        fmt,
        View(
            f"History of {found.key} (times in {zone})",
            [
                *raw[:1],
                ("at", lambda r: local_time(r.at, zone)),
                *raw[2:6],
                ("by", lambda r: f"{r.actor} ({r.role})" if r.actor else ""),
                ("detail", attrgetter("detail")),
            ],
            empty=f"No history of {found.key}{period}.",
            csv=[
                *raw,
                ("comment", attrgetter("comment")),
                ("detail", lambda r: "" if r.detail == (r.comment or "") else r.detail),
            ],
        ),
    )


COMMANDS = [plan_group, role_group, advance, history]
