"""Calendar files for deadline mails (RFC 5545, built with the icalendar package).

One stable UID per deadline, so calendar programs update the entry in place; SEQUENCE is the
deadline's move count; a cancelled deadline goes out with METHOD:CANCEL and STATUS:CANCELLED.
Date-only deadlines are all-day entries; timed ones are in UTC. A deadline mailed to
someone carries its plan's page (URL), the coordinator (ORGANIZER) and an alarm for each
reminder the workflow sends (VALARM), so a calendar reminds even when mail is late.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:  # icalendar is imported when a calendar is first made (start-up time)
    from icalendar import Calendar, Event


def _event(
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
    url: str | None = None,
    organizer: tuple[str, str] | None = None,
    alarms: tuple[int, ...] | list[int] = (),
    alarm_text: str = "",
) -> Event:
    from icalendar import Alarm, Event, vCalAddress, vText

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
    if url:
        event.add("url", url)
    if organizer is not None:
        name, address = organizer
        # a URI: "?" would start header fields of the mailto link (farrukh?cc=spy@...)
        who = vCalAddress(f"mailto:{quote(address, safe='@')}")
        who.params["cn"] = vText(name)
        event.add("organizer", who)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    for days in () if cancelled else alarms:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", alarm_text or title)
        alarm.add("trigger", timedelta(days=-days))
        event.add_component(alarm)
    return event


def _calendar(method: str) -> Calendar:
    from icalendar import Calendar

    calendar = Calendar()
    calendar.add("prodid", "-//napflow//1540 NAP workflow//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    return calendar


def deadline_calendar(**fields: Any) -> bytes:
    """Return the .ics bytes of one deadline (``start`` a date for all-day, else UTC).

    Fields: uid, sequence, title, description, start, end, location, stamp, cancelled,
    and optionally url (the plan's page), organizer (name, address), alarms (days before
    the start, one VALARM each) and alarm_text.
    """
    calendar = _calendar("CANCEL" if fields.get("cancelled") else "PUBLISH")
    calendar.add_component(_event(**fields))
    return bytes(calendar.to_ical())


def deadline_feed(name: str, events: list[dict[str, Any]]) -> bytes:
    """Return a subscribable calendar named ``name`` with one event per deadline's fields."""
    calendar = _calendar("PUBLISH")
    calendar.add("x-wr-calname", name)
    for fields in events:
        calendar.add_component(_event(**fields))
    return bytes(calendar.to_ical())
