"""Dates, weekdays and lists as the current locale writes them (Babel's CLDR data).

"31 December 2015" in English is "31 декабря 2015 г." in Russian: the month's case and the
year's abbreviation are the language's, not a pattern of ours. Babel is imported on the
first date or list written, not with napflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
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


def format_date(day: date, form: str = "long") -> str:
    """Return ``day`` ("long": 31 December 2015 / 31 декабря 2015 г.)."""
    from babel import dates

    return dates.format_date(day, form, locale=_formats())


def format_datetime(when: datetime, zone: str | None = None, form: str = "long") -> str:
    """Return the date and 24-hour time of ``when`` in ``zone`` (its own zone if None).

    "31 December 2015, 23:59" / "31 декабря 2015 г., 23:59".
    """
    from babel import dates

    local = when.astimezone(ZoneInfo(zone)) if zone else when
    return f"{dates.format_date(local, form, locale=_formats())}, {local:%H:%M}"


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
    from babel import lists

    return lists.format_list(list(items), style=style, locale=_formats())


def format_number(value: int) -> str:
    """Return a whole number grouped as the locale groups it ("1,234" / "1 234")."""
    if current_locale() == SOURCE:  # what Babel would write, without importing it
        return f"{value:,}"
    from babel import numbers

    return numbers.format_decimal(value, locale=_formats())
