"""IANA time zone names: validation and conversion for display."""

from __future__ import annotations

import functools
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from napflow.i18n import _


def validate_timezone(name: str) -> str:
    """Return ``name`` if it is a known IANA zone such as ``Asia/Dushanbe``; else ValueError."""
    candidate = name.strip()
    bad = (
        not candidate
        or candidate.startswith(("/", "."))
        or ".." in candidate
        or "\\" in candidate
        or "\x00" in candidate
    )
    if not bad:
        try:
            ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            bad = True
    if bad or candidate not in _known_zones() or candidate in _HOST_DEPENDENT:
        raise ValueError(
            _(
                "unknown time zone %(name)r; use an IANA name such as Asia/Dushanbe, "
                "Europe/Vienna or UTC"
            )
            % {"name": name}
        )
    return candidate


# Names in the zone database that mean different things on different machines.
_HOST_DEPENDENT = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def to_local(when: datetime, zone: str) -> datetime:
    """Convert an aware datetime to the wall-clock time of ``zone``."""
    return when.astimezone(ZoneInfo(zone))
