"""Calendar arithmetic: deadlines, reminders and escalations on local calendar days.

The expected instants are worked out by hand from the zones' rules: Vienna is UTC+1 in
winter and UTC+2 in summer (2015: summer time from 29 March 02:00 to 25 October 03:00
local), Dushanbe UTC+5 all year, Kiritimati UTC+14, Los Angeles UTC-7 in summer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napflow.workflow.calendar import (
    day_end,
    due_instant,
    escalation_instant,
    local_to_utc,
    reminder_instant,
)

pytestmark = pytest.mark.unit

VIENNA = "Europe/Vienna"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "at", "expected"),
    [
        (date(2015, 1, 15), time(9), utc(2015, 1, 15, 8)),  # winter: UTC+1
        (date(2015, 7, 1), time(9), utc(2015, 7, 1, 7)),  # summer: UTC+2
        (date(2015, 3, 28), time(23, 30), utc(2015, 3, 28, 22, 30)),  # the evening before
        (date(2015, 3, 29), time(3, 0), utc(2015, 3, 29, 1, 0)),  # just after the change
        (date(2015, 10, 25), time(3, 0), utc(2015, 10, 25, 2, 0)),  # winter time again
        (date(2015, 12, 31), time(23, 59, 59), utc(2015, 12, 31, 22, 59, 59)),
    ],
)
def test_a_vienna_wall_clock_time_is_the_utc_instant_of_its_season(
    day: date, at: time, expected: datetime
) -> None:
    found = local_to_utc(day, at, VIENNA)
    assert found == expected
    assert found.utcoffset() == timedelta(0)


def test_a_wall_clock_time_skipped_by_the_spring_change_is_not_lost() -> None:
    # 02:30 does not exist on 29 March 2015 in Vienna: it is taken as 03:30 summer time
    assert local_to_utc(date(2015, 3, 29), time(2, 30), VIENNA) == utc(2015, 3, 29, 1, 30)


def test_a_wall_clock_time_repeated_in_autumn_is_its_first_occurrence() -> None:
    # 02:30 happens twice on 25 October 2015: first in summer time (UTC+2)
    assert local_to_utc(date(2015, 10, 25), time(2, 30), VIENNA) == utc(2015, 10, 25, 0, 30)


def test_a_day_ends_at_the_next_local_midnight_whatever_its_length() -> None:
    assert day_end(date(2015, 7, 1), VIENNA) == utc(2015, 7, 1, 22)
    assert day_end(date(2015, 1, 15), VIENNA) == utc(2015, 1, 15, 23)
    assert day_end(date(2015, 7, 1), "Asia/Dushanbe") == utc(2015, 7, 1, 19)
    # 29 March has 23 hours in Vienna, 25 October 25
    spring = day_end(date(2015, 3, 29), VIENNA) - day_end(date(2015, 3, 28), VIENNA)
    autumn = day_end(date(2015, 10, 25), VIENNA) - day_end(date(2015, 10, 24), VIENNA)
    assert (spring, autumn) == (timedelta(hours=23), timedelta(hours=25))


def test_a_deadline_without_a_time_is_due_at_the_last_second_of_its_local_day() -> None:
    assert due_instant(date(2015, 12, 31), None, VIENNA) == utc(2015, 12, 31, 22, 59, 59)
    assert due_instant(date(2015, 7, 10), None, "Asia/Dushanbe") == utc(2015, 7, 10, 18, 59, 59)
    assert due_instant(date(2015, 7, 15), time(10), VIENNA) == utc(2015, 7, 15, 8)


@pytest.mark.parametrize(
    ("days_before", "expected"),
    [
        (0, utc(2015, 3, 30, 7)),
        (1, utc(2015, 3, 29, 7)),  # the day of the change: already summer time at 09:00
        (2, utc(2015, 3, 28, 8)),  # still winter time
        (7, utc(2015, 3, 23, 8)),
        (30, utc(2015, 2, 28, 8)),
    ],
)
def test_a_reminder_goes_out_at_the_local_hour_on_a_calendar_day_before(
    days_before: int, expected: datetime
) -> None:
    assert reminder_instant(date(2015, 3, 30), days_before, 9, VIENNA) == expected


def test_reminders_one_day_apart_across_the_spring_change_are_23_hours_apart() -> None:
    first = reminder_instant(date(2015, 3, 30), 2, 9, VIENNA)
    second = reminder_instant(date(2015, 3, 30), 1, 9, VIENNA)
    assert second - first == timedelta(hours=23)


def test_a_reminder_goes_out_at_the_hour_of_the_recipients_zone() -> None:
    due = date(2015, 7, 10)
    assert reminder_instant(due, 1, 9, "Asia/Dushanbe") == utc(2015, 7, 9, 4)
    assert reminder_instant(due, 1, 9, VIENNA) == utc(2015, 7, 9, 7)
    assert reminder_instant(due, 1, 9, "America/Los_Angeles") == utc(2015, 7, 9, 16)


@settings(max_examples=200, deadline=None)
@given(
    due=st.dates(date(2000, 1, 1), date(2040, 12, 31)),
    days_before=st.integers(0, 60),
    hour=st.integers(3, 23),  # in Vienna these exist on every day, and only once
)
def test_any_reminder_falls_on_its_local_day_at_its_local_hour(
    due: date, days_before: int, hour: int
) -> None:
    local = reminder_instant(due, days_before, hour, VIENNA).astimezone(ZoneInfo(VIENNA))
    assert local.date() == due - timedelta(days=days_before)
    assert (local.hour, local.minute, local.second) == (hour, 0, 0)


def test_escalations_start_the_morning_after_and_repeat_every_few_days() -> None:
    due = date(2015, 7, 10)
    assert escalation_instant(due, 1, 7, 9, VIENNA) == utc(2015, 7, 11, 7)
    assert escalation_instant(due, 2, 7, 9, VIENNA) == utc(2015, 7, 18, 7)
    assert escalation_instant(due, 3, 7, 9, VIENNA) == utc(2015, 7, 25, 7)
    assert escalation_instant(due, 2, 1, 9, VIENNA) == utc(2015, 7, 12, 7)


def test_escalations_keep_the_local_hour_across_the_autumn_change() -> None:
    due = date(2015, 10, 20)
    assert escalation_instant(due, 1, 7, 9, VIENNA) == utc(2015, 10, 21, 7)  # summer time
    assert escalation_instant(due, 2, 7, 9, VIENNA) == utc(2015, 10, 28, 8)  # winter time


def test_an_escalation_never_goes_before_the_deadline_has_passed() -> None:
    # due at the end of 10 July in Los Angeles: 11 July 06:59:59 UTC; a reader in
    # Kiritimati (UTC+14) reaches 09:00 on 11 July at 10 July 19:00 UTC, before that
    due = date(2015, 7, 10)
    passed = due_instant(due, None, "America/Los_Angeles")
    assert passed == utc(2015, 7, 11, 6, 59, 59)
    early = escalation_instant(due, 1, 7, 9, "Pacific/Kiritimati", not_before=passed)
    assert early == utc(2015, 7, 11, 7, 0, 0)  # the moment it has passed
    # the second one is days later, long after: the rule does not touch it
    later = escalation_instant(due, 2, 7, 9, "Pacific/Kiritimati", not_before=passed)
    assert later == utc(2015, 7, 17, 19)


def test_the_not_before_rule_only_moves_an_escalation_that_is_not_after_it() -> None:
    due = date(2015, 7, 10)
    at = utc(2015, 7, 11, 7)  # escalation 1 in Vienna at 09:00
    assert escalation_instant(due, 1, 7, 9, VIENNA, not_before=at) == at + timedelta(seconds=1)
    just_before = at - timedelta(microseconds=1)
    assert escalation_instant(due, 1, 7, 9, VIENNA, not_before=just_before) == at
    assert escalation_instant(due, 1, 7, 9, VIENNA, not_before=None) == at
