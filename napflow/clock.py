"""Time comes from a Clock, so tests and simulations can run in virtual time.

Production uses :class:`SystemClock` (UTC); tests, the demo loader and ``napflow simulate``
use :class:`VirtualClock`. All datetimes napflow handles internally are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current time as an aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        """Return the system time in UTC."""
        return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to; for tests, demos and simulations."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)

    def now(self) -> datetime:
        """Return the virtual time."""
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (aware)."""
        self._now = ensure_utc(when)

    def advance(self, delta: timedelta) -> None:
        """Move the virtual time forward by ``delta``."""
        self._now = self._now + delta


def ensure_utc(when: datetime) -> datetime:
    """Return ``when`` converted to UTC; refuse naive datetimes, whose zone is unknown."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"naive datetime {when!r}: napflow needs a time zone on every time")
    return when.astimezone(UTC)
