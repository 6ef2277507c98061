"""Calendar files for deadline mails (RFC 5545, built with the icalendar package).

One stable UID per deadline, so calendar programs update the entry in place; SEQUENCE is the
deadline's move count; a cancelled deadline goes out with METHOD:CANCEL and STATUS:CANCELLED.
Date-only deadlines are all-day entries; timed ones are in UTC.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from icalendar import Calendar, Event


def deadline_calendar(
    *,
    uid: str,
    sequence: int,
    title: str,
    description: str,
    start: date | datetime,
    end: date | datetime | None,
    location: str | None,
    stamp: datetime,
    cancelled: bool = False,
) -> bytes:
    """Return the .ics bytes of one deadline (``start`` a date for all-day, else UTC)."""
    calendar = Calendar()
    calendar.add("prodid", "-//napflow//1540 NAP workflow//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    event = Event()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", stamp)
    event.add("summary", title)
    event.add("description", description)
    event.add("dtstart", start)
    if isinstance(start, datetime):
        event.add("dtend", end if isinstance(end, datetime) else start)
    else:
        last = end if isinstance(end, date) and not isinstance(end, datetime) else start
        event.add("dtend", last + timedelta(days=1))  # DTEND of an all-day event is exclusive
    if location:
        event.add("location", location)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    calendar.add_component(event)
    return bytes(calendar.to_ical())
