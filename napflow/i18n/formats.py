"""Dates, weekdays and lists as the current locale writes them (Babel's CLDR data).

"31 December 2015" in English is "31 декабря 2015 г." in Russian: the month's case and the
year's abbreviation are the language's, not a pattern of ours. Babel is imported on the
first date or list written, not with napflow.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from napflow.i18n.locales import SOURCE
from napflow.i18n.translate import current_locale

#: the conventions each language's dates follow where CLDR has several: English as the UN
#: and the OSCE write it ("31 December 2015"), not the American "December 31, 2015"
_FORMATS = {"en": "en_GB"}


def _formats() -> str:
    locale = current_locale()
    return _FORMATS.get(locale, locale)


@functools.lru_cache(maxsize=4096)
def _date(day: date, form: str, locale: str) -> str:
    # a dispatcher writes the same few days into thousands of mails: Babel once for each
    from babel import dates

    return dates.format_date(day, form, locale=locale)


def format_date(day: date, form: str = "long") -> str:
    """Return ``day`` ("long": 31 December 2015 / 31 декабря 2015 г.)."""
    return _date(day, form, _formats())


def format_full_date(day: date) -> str:
    """Return ``day`` with its weekday: "Thursday, 31 December 2015" (Russian: "четверг, ...")."""
    return _date(day, "full", _formats())


def format_date_range(first: date, last: date) -> str:
    """Return the days ``first`` to ``last`` in full, or one day if they are the same.

    "Thursday, 8 October 2015 - Friday, 9 October 2015" (an en dash): each end written whole, so no
    language has to decline a weekday after a preposition ("с четверга ... по пятницу").
    """
    if first == last:
        return format_full_date(first)
    return f"{format_full_date(first)} \u2013 {format_full_date(last)}"


def format_datetime(when: datetime, zone: str | None = None, form: str = "long") -> str:
    """Return the date and 24-hour time of ``when`` in ``zone`` (its own zone if None).

    "31 December 2015, 23:59" / "31 декабря 2015 г., 23:59".
    """
    local = when.astimezone(ZoneInfo(zone)) if zone else when
    return f"{_date(local.date(), form, _formats())}, {local:%H:%M}"


def format_day(day: date, month: bool = False) -> str:
    """Return a day as a calendar lists it: "Thu 22", with its month "Fri 23 Oct".

    Another language writes it its own way (CLDR's): "пт, 22", "пт, 23 окт.".
    """
    from babel import dates

    locale = _formats()
    if current_locale() == SOURCE:  # the calendar's English form
        return dates.format_date(day, "EEE dd MMM" if month else "EEE dd", locale=locale)
    return dates.format_skeleton("MMMEd" if month else "Ed", day, locale=locale)


def format_month(day: date) -> str:
    """Return the month of ``day`` as a heading: "October 2015", "Октябрь 2015 г."."""
    from babel import dates

    text = dates.format_skeleton("yMMMM", day, locale=_formats())
    return text[:1].upper() + text[1:]


def format_weekday(day: date, form: str = "wide") -> str:
    """Return the day of the week of ``day`` ("Thursday" / "четверг")."""
    from babel import dates

    return dates.format_date(day, "EEEE" if form == "wide" else "EEE", locale=_formats())


def format_list(items: Sequence[str], style: Literal["standard", "or"] = "standard") -> str:
    """Return ``items`` joined as the locale joins a list ("A, B and C" / "A, B и C")."""
    return _list(tuple(items), style, _formats())


@functools.lru_cache(maxsize=4096)
def _list(items: tuple[str, ...], style: Literal["standard", "or"], locale: str) -> str:
    from babel import lists

    return lists.format_list(list(items), style=style, locale=locale)


def format_number(value: int) -> str:
    """Return a whole number grouped as the locale groups it ("1,234" / "1 234")."""
    if current_locale() == SOURCE:  # what Babel would write, without importing it
        return f"{value:,}"
    from babel import numbers

    return numbers.format_decimal(value, locale=_formats())


def format_duration(delta: timedelta) -> str:
    """Return a span of time as the locale says it, rounded to its largest unit.

    "12 days", "3 weeks", "2 months" ("12 дней", "3 недели", "2 месяца"): Babel's words and
    plural forms; a unit is used from two of it on ("12 days", not "2 weeks"); at least
    "1 hour".
    """
    return _duration(max(int(delta.total_seconds()) // 3600, 1), _formats())


@functools.lru_cache(maxsize=4096)
def _duration(hours: int, locale: str) -> str:
    from babel import dates

    span = timedelta(hours=hours)
    return dates.format_timedelta(span, threshold=1 if hours < 2 else 2, locale=locale)
