"""When things are due and when reminders go out: calendar arithmetic in local time.

A deadline is a calendar date in its own zone ("31 December" in Dushanbe), optionally with a
time; without one it runs to the end of that day. Reminders go out at a local hour in the
recipient's zone on a calendar day counted back from the deadline's date. Everything is
computed with zoneinfo on local wall-clock times and only then turned into UTC, so a
09:00 reminder in Vienna is 07:00 UTC in summer and 08:00 UTC in winter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

END_OF_DAY = time(23, 59, 59)


def local_to_utc(day: date, at: time, zone: str) -> datetime:
    """Return the UTC instant of wall-clock ``at`` on ``day`` in ``zone``.

    A wall-clock time skipped by a DST change is taken as the time after the change
    (zoneinfo's fold=0 rule), so it is never lost.
    """
    return datetime.combine(day, at, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def day_end(day: date, zone: str) -> datetime:
    """Return the UTC instant at which ``day`` ends in ``zone`` (the next local midnight)."""
    return local_to_utc(day + timedelta(days=1), time(0, 0), zone)


def due_instant(day: date, at: time | None, zone: str) -> datetime:
    """Return when a deadline on ``day`` (at ``at``, else end of day) in ``zone`` falls due."""
    return local_to_utc(day, at or END_OF_DAY, zone)


def reminder_instant(due_day: date, days_before: int, hour: int, zone: str) -> datetime:
    """Return when the reminder ``days_before`` a deadline on ``due_day`` goes out.

    ``zone`` is the recipient's (else the plan's); the reminder goes out at ``hour``:00
    local time on the calendar day ``days_before`` days before ``due_day``.
    """
    return local_to_utc(due_day - timedelta(days=days_before), time(hour), zone)


def escalation_instant(
    due_day: date,
    number: int,
    every_days: int,
    hour: int,
    zone: str,
    not_before: datetime | None = None,
) -> datetime:
    """Return when escalation ``number`` (1, 2, ...) for a deadline missed on ``due_day`` goes.

    The first goes the morning after the missed day, each next one ``every_days`` later, at
    ``hour`` in the reader's ``zone``. A reader far east of the deadline's zone can reach
    that morning before the deadline has passed: then it goes the moment it has
    (``not_before``, the deadline's due instant).
    """
    day = due_day + timedelta(days=1 + (number - 1) * every_days)
    at = local_to_utc(day, time(hour), zone)
    if not_before is not None and at <= not_before:
        return not_before + timedelta(seconds=1)
    return at
