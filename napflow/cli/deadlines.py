"""``napflow deadline ...`` and ``napflow reminders ...``: parse, call a service, present."""

from __future__ import annotations

from datetime import timedelta
from operator import attrgetter

import click

from napflow import services
from napflow.cli.context import ROW_ID, AppState, acting_as, admin_as, pass_state, viewing_as
from napflow.cli.output import Cell, View, local_time, present
from napflow.inputs import plan_key

FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")


#: who makes a deadline change, and why (recorded in the plan's history)
AS_MANAGER = acting_as("manage deadlines")
COMMENT = click.option("--comment", help="Why, recorded with the change.")


@click.group("deadline")
def deadline_group() -> None:
    """Add, list, move and cancel deadlines (and with them their reminders)."""


@deadline_group.command("add")
@click.argument("key")
@click.argument("kind")
@click.argument("date")
@click.option("--end", metavar="DATE", help="Last day of an event (YYYY-MM-DD).")
@click.option("--time", "at", metavar="HH:MM", help="A time of day; else the end of the day.")
@click.option("--timezone", metavar="ZONE", help="The deadline's zone; else the plan's.")
@click.option("--title", help="Title; else the kind's title from the workflow.")
@click.option("--location", help="Where, for a meeting.")
@AS_MANAGER
@COMMENT
@pass_state
def deadline_add(
    state: AppState,
    key: str,
    kind: str,
    date: str,
    end: str | None,
    at: str | None,
    timezone: str | None,
    title: str | None,
    location: str | None,
    as_email: str | None,
    comment: str | None,
) -> None:
    """Give plan KEY a deadline of KIND on DATE (YYYY-MM-DD); print its id."""
    found = services.add_deadline(
        state.runtime(),
        key,
        kind,
        date,
        end=end,
        at=at,
        timezone=timezone,
        title=title,
        location=location,
        actor=as_email,
        comment=comment,
    )
    click.echo(
        f"Deadline {found.id}: {found.title} for {found.plan}, due "
        f"{local_time(found.due_at, found.timezone)} ({found.timezone})."
    )


@deadline_group.command("list")
@click.argument("key", required=False)
@viewing_as
@FORMAT
@pass_state
def deadline_list(state: AppState, key: str | None, as_email: str | None, fmt: str) -> None:
    """List deadlines (of plan KEY), soonest first."""
    found = services.list_deadlines(state.runtime(), key, viewer=as_email)
    present(
        found,
        fmt,
        View(
            "Deadlines",
            [
                ("id", lambda d: d.id),
                ("plan", lambda d: d.plan),
                ("kind", lambda d: d.kind),
                ("title", lambda d: d.title),
                ("due (local)", lambda d: local_time(d.due_at, d.timezone)),
                ("zone", lambda d: d.timezone),
                ("status", lambda d: d.status_text),
            ],
            empty=f"No deadlines on {plan_key(key)}." if key is not None else "No deadlines.",
        ),
    )


@deadline_group.command("move")
@click.argument("deadline_id", metavar="ID", type=ROW_ID)
@click.argument("date")
@click.option("--time", "at", metavar="HH:MM", help="A new time of day.")
@click.option(
    "--end", metavar="DATE", help="A new last day, for a meeting (else it keeps its length)."
)
@click.option("--title", help="A new title.")
@click.option("--location", help="A new location, for a meeting.")
@AS_MANAGER
@COMMENT
@pass_state
def deadline_move(
    state: AppState,
    deadline_id: int,
    date: str,
    at: str | None,
    end: str | None,
    title: str | None,
    location: str | None,
    as_email: str | None,
    comment: str | None,
) -> None:
    """Move deadline ID to DATE; its reminders move with it."""
    found = services.move_deadline(
        state.runtime(),
        deadline_id,
        date,
        at,
        end=end,
        title=title,
        location=location,
        actor=as_email,
        comment=comment,
    )
    click.echo(
        f"Deadline {found.id} now due {local_time(found.due_at, found.timezone)} "
        f"({found.timezone})."
    )


@deadline_group.command("cancel")
@click.argument("deadline_id", metavar="ID", type=ROW_ID)
@AS_MANAGER
@COMMENT
@pass_state
def deadline_cancel(
    state: AppState, deadline_id: int, as_email: str | None, comment: str | None
) -> None:
    """Cancel deadline ID and every message still queued for it."""
    found = services.cancel_deadline(state.runtime(), deadline_id, actor=as_email, comment=comment)
    click.echo(f"Deadline {found.id} ({found.title}, {found.plan}) cancelled.")


@click.group("reminders")
def reminders_group() -> None:
    """See and send reminders, escalations and notices."""


#: a message in the outbox, as a table row
MESSAGE_COLUMNS: list[tuple[str, Cell]] = [
    ("id", lambda m: m.id),
    ("plan", lambda m: m.plan),
    ("kind", lambda m: m.kind),
    ("rung", lambda m: m.rung),
    ("to", lambda m: m.recipient),
    ("send at (their time)", lambda m: m.local_send_at),
    ("status", lambda m: m.status + (f": {m.last_error}" if m.last_error else "")),
]


@reminders_group.command("list")
@click.option(
    "--status", type=click.Choice(["pending", "held", "sending", "sent", "failed", "cancelled"])
)
@click.option("--plan", "key", metavar="KEY", help="Only this plan's messages.")
@viewing_as
@FORMAT
@pass_state
def reminders_list(
    state: AppState, status: str | None, key: str | None, as_email: str | None, fmt: str
) -> None:
    """List messages in the outbox, in send order."""
    found = services.list_messages(state.runtime(), status, key, viewer=as_email)
    which = f"{status} messages" if status is not None else "messages"
    where = f" for {plan_key(key)}" if key is not None else ""
    present(found, fmt, View("Messages", MESSAGE_COLUMNS, empty=f"No {which}{where}."))


#: the columns of a timer transition's row (the plan's time)
TIMER_COLUMNS: list[tuple[str, Cell]] = [
    ("due (plan's time)", lambda t: local_time(t.due_at, t.timezone)),
    ("plan", attrgetter("plan")),
    ("action", attrgetter("title")),
    ("from", attrgetter("from_state")),
    ("to", attrgetter("to_state")),
]


@reminders_group.command("preview")
@click.option("--days", type=click.IntRange(min=0, max=3660), default=7, show_default=True)
@FORMAT
@pass_state
def reminders_preview(state: AppState, days: int, fmt: str) -> None:
    """Show what will go out in the next N days, to whom, in their local time.

    And, in the table, what napflow will do by itself by then (timer transitions), in each
    plan's time; JSON lists the messages (`napflow timers list` the timers).
    """
    rt = state.runtime()
    found = services.preview_messages(rt, days)
    until = rt.clock.now() + timedelta(days=days)
    due = [t for t in services.timers.list_timers(rt) if t.due_at <= until]
    present(
        found,
        fmt,
        View(
            f"Going out in the next {days} days",
            MESSAGE_COLUMNS,
            empty=f"Nothing goes out in the next {days} days.",
        ),
        View(
            f"Done by napflow itself in the next {days} days (if its conditions hold then)",
            TIMER_COLUMNS,
            items=lambda _messages: due,
        ),
    )


@click.group("timers")
def timers_group() -> None:
    """List the transitions napflow makes by itself (a workflow's timer transitions)."""


@timers_group.command("list")
@click.option(
    "--status",
    type=click.Choice(["pending", "fired", "refused", "cancelled"]),
    default="pending",
    show_default=True,
)
@FORMAT
@viewing_as
@pass_state
def timers_list(state: AppState, status: str, fmt: str, as_email: str | None) -> None:
    """List the timer transitions waiting (or fired, refused, cancelled), soonest first."""
    found = services.timers.list_timers(state.runtime(), status, viewer=as_email)
    present(
        found,
        fmt,
        View(
            f"Timer transitions ({status})",
            [*TIMER_COLUMNS, ("note", lambda t: t.note or "")],
            empty=f"No timer transitions {status}.",
        ),
    )


@reminders_group.command("retry")
@click.argument("message", type=click.IntRange(min=1), metavar="ID")
@COMMENT
@admin_as
@pass_state
def reminders_retry(
    state: AppState, message: int, comment: str | None, as_email: str | None
) -> None:
    """Send message ID again, after it failed for good (recorded in its plan's history).

    `napflow reminders list --status failed` lists the failed messages and their ids.
    """
    found = services.reminders.retry_message(state.runtime(), message, as_email, comment)
    click.echo(
        f"Message {found.id} ({found.kind} {found.rung} to {found.recipient}, {found.plan}) "
        "goes again on the next pass."
    )


@reminders_group.command("send-due")
@pass_state
def reminders_send_due(state: AppState) -> None:
    """Send everything due now, in one pass (for cron instead of the scheduler daemon)."""
    total = services.dispatch.send_due(state.runtime())
    click.echo(
        f"Sent {total.sent} ({total.late} late), {total.retrying} to retry, {total.failed} failed."
    )


@click.group("feed")
def feed_group() -> None:
    """Manage the calendar feed links of plans and people."""


@feed_group.command("reset")
@click.argument("plan_or_email", metavar="KEY|EMAIL")
@pass_state
def feed_reset(state: AppState, plan_or_email: str) -> None:
    """Give the calendar feed of plan KEY, or of the person EMAIL, a new link.

    The old link stops working at once; every other feed keeps its link.
    """
    done = services.feeds.reset_feed(state.runtime(), plan_or_email)
    click.echo(f"New calendar feed link for {done.feed}: {done.url} (the old one no longer works).")


COMMANDS = [deadline_group, reminders_group, timers_group, feed_group]
