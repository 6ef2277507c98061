"""Which languages napflow speaks, and choosing one for a reader.

A locale is a language code napflow has a catalogue for (``en``, ``ru``); English, the
language of the source text, needs none. :func:`negotiate` picks one from a browser's
``Accept-Language`` header.
"""

from __future__ import annotations

import functools
from pathlib import Path

#: the language the text is written in (message ids are English)
SOURCE = "en"
_CATALOGUES = Path(__file__).parent / "catalogues"


def _available() -> tuple[str, ...]:
    found = {p.parent.parent.name for p in _CATALOGUES.glob("*/LC_MESSAGES/napflow.po")}
    return (SOURCE, *sorted(found - {SOURCE}))


#: every locale napflow has text for, English first
AVAILABLE: tuple[str, ...] = _available()


def parse_locale(value: str) -> str:
    """Return the locale ``value`` names (``ru``, ``ru-RU``, ``ru_RU``), or raise ValueError.

    The message says what napflow accepts.
    """
    language = _language(value)
    if language in AVAILABLE:
        return language
    raise ValueError(
        f"unknown locale {value!r}; napflow speaks {', '.join(AVAILABLE)} "
        "(docs/translating.md says how to add a language)"
    )


def _language(tag: str) -> str:
    """Return the language of a tag: ``ru`` of ``ru-RU``, ``RU_ru`` or `` ru ``."""
    return tag.strip().replace("-", "_").split("_", 1)[0].lower()


def negotiate(header: str | None, default: str = SOURCE) -> str:
    """Return the available locale an ``Accept-Language`` header prefers most, else ``default``.

    Weights (``q=``) are honoured; a region (``ru-RU``) counts for its language; malformed
    parts are skipped.
    """
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                continue
        language = _language(tag)
        if language in AVAILABLE and weight > 0:
            choices.append((-weight, position, language))
    return min(choices)[2] if choices else default


@functools.cache
def language_name(locale: str) -> str:
    """Return a language's name in that language, for a switch ("English", "Русский")."""
    from babel import Locale
    from babel.core import UnknownLocaleError

    try:
        name = Locale.parse(locale).get_display_name(locale) or locale
    except (ValueError, UnknownLocaleError):
        return locale
    return name[:1].upper() + name[1:]
