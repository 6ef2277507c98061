"""Validation of values people type: e-mail addresses, names, country codes, plan keys.

Each function returns the normalised value or raises :class:`~napflow.errors.InputError`
with a sentence naming what was wrong and what is accepted.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import unicodedata
from datetime import date
from pathlib import Path

from napflow.errors import InputError
from napflow.i18n import AVAILABLE, N_, SOURCE, _, current_locale, ngettext, parse_locale
from napflow.timezones import validate_timezone

MAX_COMMENT = 100_000
KEY_RE = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*")


# Unicode category Cc (C0 controls, DEL, C1 controls) and lone surrogates, which are what
# undecodable bytes on the command line become and cannot be stored or printed.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_BUT_NEWLINE_TAB = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def printable(text: str, keep_newlines: bool = False) -> str:
    """Return ``text`` with its unprintable characters shown as escapes.

    Control characters, line separators and lone surrogates become escapes (a backslash,
    then ``x85`` or ``u2028``), so that echoing what someone typed cannot break or colour a
    line.
    """

    def escape(found: re.Match[str]) -> str:
        char = found.group()
        if keep_newlines and char == "\n":
            return char
        return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"

    return _UNPRINTABLE.sub(escape, text)


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


@functools.lru_cache(maxsize=4096)
def email_address(value: str) -> str:
    """Return a normalised (lower-case) e-mail address such as ``a.b@mfa.tj``."""
    from email.errors import HeaderParseError  # the email package: only when used
    from email.headerregistry import Address

    text = value.strip().lower()
    problem = None
    malformed = N_(
        "%(value)r is not a valid e-mail address: it is not of the form name@domain.tld."
    )
    if not text or len(text) > 254 or _has_control(text) or " " in text:
        problem = N_(
            "%(value)r is not a valid e-mail address: it is empty, too long or contains "
            "spaces or control characters."
        )
    else:
        try:
            address = Address(addr_spec=text)
        except (HeaderParseError, ValueError, IndexError, AttributeError, TypeError):
            # the stdlib parser fails in several ways on malformed addresses
            problem = malformed
        else:
            if not address.username or "." not in address.domain:
                problem = malformed
    if problem:
        raise InputError(_(problem) % {"value": value})
    return text


def _one_line_text(value: str, limit: int, empty: str, too_long: str) -> str:
    """Return ``value`` as one tidy line; ``empty`` and ``too_long`` say what is wrong.

    They are marked (N_) messages, translated here; ``too_long`` names ``%(limit)d``.
    """
    text = " ".join(value.split())
    if not text:
        raise InputError(_(empty))
    if len(text) > limit or _has_control(text):
        raise InputError(_(too_long) % {"limit": limit})
    return text


def token_label(value: str) -> str:
    """Return a valid API token label: one line, at most 100 characters."""
    return _one_line_text(
        value,
        100,
        N_("The token label must not be empty."),
        N_(
            "The token label must be one line of at most %(limit)d characters without "
            "control characters."
        ),
    )


def file_name(value: str) -> str:
    """Return a file's own name: no folders, no control characters, at most 255 characters.

    Only the name is kept of what a browser or a command line gives (never a path to write
    to); one with folder parts is refused rather than cut, so nobody wonders which was kept.
    """
    name = value.strip()
    if not name or name in (".", ".."):
        raise InputError(_("The file name must not be empty."))
    if "/" in name or "\\" in name:
        raise InputError(
            _(
                "The file name %(name)r has folder parts; give the name alone, "
                "e.g. NAP-draft-v2.docx."
            )
            % {"name": printable(name[:80])}
        )
    if len(name) > 255 or _has_control(name):
        raise InputError(
            _(
                "The file name must be one line of at most %(limit)d characters without "
                "control characters."
            )
            % {"limit": 255}
        )
    if any(unicodedata.category(c) == "Cf" for c in name):
        # right-to-left overrides and the like make "report\u202efdp.exe" show as a PDF
        raise InputError(
            _(
                "The file name must not hold invisible formatting characters (such as "
                "right-to-left marks)."
            )
        )
    return name


def person_name(value: str) -> str:
    """Return a person's display name, whitespace tidied."""
    return _one_line_text(
        value,
        200,
        N_("The name must not be empty."),
        N_("The name must be one line of at most %(limit)d characters without control characters."),
    )


def plan_title(value: str) -> str:
    """Return a plan title, whitespace tidied."""
    return _one_line_text(
        value,
        500,
        N_("The title must not be empty."),
        N_(
            "The title must be one line of at most %(limit)d characters without control characters."
        ),
    )


#: what is wrong with a deadline's title or location: empty, or not one short line
_DEADLINE_TEXTS = {
    "deadline title": (
        N_("The deadline title must not be empty."),
        N_(
            "The deadline title must be one line of at most %(limit)d characters without "
            "control characters."
        ),
    ),
    "location": (
        N_("The location must not be empty."),
        N_(
            "The location must be one line of at most %(limit)d characters without control "
            "characters."
        ),
    ),
}


def deadline_text(value: str, what: str) -> str:
    """Return a deadline's title or location: one line of at most 200 characters.

    ``what`` is ``"deadline title"`` or ``"location"``.
    """
    return _one_line_text(value, 200, *_DEADLINE_TEXTS[what])


def country_code(value: str) -> str:
    """Return an ISO 3166-1 alpha-3 country code such as ``TJK``."""
    code = value.strip().upper()
    if len(code) != 3 or not code.isascii() or code not in _countries():
        raise InputError(
            _("%(value)r is not an ISO 3166-1 alpha-3 country code; use e.g. TJK, KGZ or SRB.")
            % {"value": value}
        )
    return code


@functools.cache
def _countries() -> dict[str, str]:
    """Return alpha-3 code -> common English name, from pycountry's ISO 3166-1 data.

    Read from pycountry's data file without importing pycountry when the file is where
    pycountry keeps it: its import reads every installed distribution's metadata for its
    own version (some 40-50 ms, more than the rest of ``napflow plan list``), and napflow
    needs only these names. Should a pycountry release move the file, napflow imports
    pycountry and asks it (tests/unit/test_countries.py holds both ways to its answers).
    """
    try:
        return {c["alpha_3"]: c.get("common_name") or c["name"] for c in _iso3166_file()}
    except (OSError, ValueError, KeyError, TypeError):
        return _countries_from_pycountry()


@functools.cache
def _iso3166_file() -> list[dict[str, str]]:
    """Return pycountry's ISO 3166-1 records, read from its data file (OSError: not there)."""
    spec = importlib.util.find_spec("pycountry")
    folders = spec.submodule_search_locations if spec is not None else None
    if not folders:
        raise FileNotFoundError("pycountry")
    data = json.loads(
        (Path(folders[0]) / "databases" / "iso3166-1.json").read_text(encoding="utf-8")
    )
    records: list[dict[str, str]] = data["3166-1"]
    return records


def _countries_from_pycountry() -> dict[str, str]:
    """Return alpha-3 code -> common English name, asking pycountry itself (slower)."""
    import pycountry

    return {c.alpha_3: getattr(c, "common_name", None) or c.name for c in pycountry.countries}


def country_name(code: str) -> str:
    """Return the name of an alpha-3 country code in the reader's language (else the code).

    English names are pycountry's common names; other languages' are CLDR's (Babel).
    """
    locale = current_locale()
    if locale != SOURCE:
        translated = _territory_names(locale).get(_alpha_2().get(code, ""))
        if translated:
            return translated
    return _countries().get(code, code)


def country_codes() -> list[str]:
    """Return every ISO 3166-1 alpha-3 code napflow knows."""
    return sorted(_countries())


def countries_named(text: str) -> set[str]:
    """Return the alpha-3 codes of the countries whose name contains ``text``.

    In the reader's language or in English, ignoring case ("тадж" and "tajik" both find TJK).
    """
    word = text.casefold().strip()
    if not word:
        return set()
    found = {code for code, name in _countries().items() if word in name.casefold()}
    if current_locale() != SOURCE:
        found |= {code for code in _countries() if word in country_name(code).casefold()}
    return found


@functools.cache
def _alpha_2() -> dict[str, str]:
    """Return alpha-3 code -> alpha-2 code (the key CLDR names territories by).

    From the same data as :func:`_countries`, the same way.
    """
    try:
        return {c["alpha_3"]: c["alpha_2"] for c in _iso3166_file()}
    except (OSError, ValueError, KeyError, TypeError):
        import pycountry

        return {c.alpha_3: c.alpha_2 for c in pycountry.countries}


@functools.cache
def _territory_names(locale: str) -> dict[str, str]:
    """Return the country names of ``locale`` by alpha-2 code: CLDR's, as the UN writes them.

    Where CLDR's everyday name is not the one United Nations documents use (Russian
    "Киргизия" for the State that calls itself Кыргызстан), the UN's wins.
    """
    from babel import Locale

    return {**Locale.parse(locale).territories, **_UN_NAMES.get(locale, {})}


#: country names UN documents in a language use where CLDR has another
_UN_NAMES = {"ru": {"KG": "Кыргызстан"}}


@functools.lru_cache(maxsize=4096)
def plan_key(value: str) -> str:
    """Return a plan key such as ``TJK-2015``: letters, digits and single hyphens, <= 32."""
    key = value.strip()
    key = key.upper() if key.isascii() else key
    if not KEY_RE.fullmatch(key) or len(key) > 32:
        raise InputError(
            _(
                "%(value)r is not a valid plan key; use letters, digits and single hyphens, "
                "starting with a letter, at most 32 characters (e.g. TJK-2015)."
            )
            % {"value": value}
        )
    return key


def comment(value: str | None) -> str | None:
    """Return a comment with line endings normalised, or None for no comment."""
    if value is None:
        return None
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > MAX_COMMENT:
        raise InputError(
            ngettext(
                "The comment is %(length)d character long; at most %(limit)d.",
                "The comment is %(length)d characters long; at most %(limit)d.",
                len(text),
            )
            % {"length": len(text), "limit": MAX_COMMENT}
        )
    if _CONTROL_BUT_NEWLINE_TAB.search(text):
        raise InputError(
            _(
                "The comment contains control characters; only text, new lines and tabs are "
                "accepted."
            )
        )
    return text or None


def timezone(value: str) -> str:
    """Return a valid IANA time zone name."""
    try:
        return validate_timezone(value)
    except ValueError as exc:
        raise InputError(_("The time zone is not valid: %(problem)s.") % {"problem": exc}) from exc


def locale(value: str) -> str:
    """Return the language napflow has for ``value`` (``ru``, ``ru-RU``, ``en``)."""
    try:
        return parse_locale(value)
    except ValueError as exc:
        # parse_locale's reason, whole, in the reader's language
        raise InputError(
            _(
                "The language is not valid: unknown locale %(value)r; napflow speaks "
                "%(locales)s (docs/translating.md says how to add a language)."
            )
            % {"value": value, "locales": ", ".join(AVAILABLE)}
        ) from exc


#: how often a person wants mail: "none" (each message as it happens) or "daily" (a digest)
DIGEST_CHOICES = ("none", "daily")


def digest(value: str) -> str | None:
    """Return a person's mail choice as stored: "daily", or None for one mail each."""
    chosen = value.strip().lower()
    if chosen not in DIGEST_CHOICES:
        raise InputError(
            _("The mail choice %(value)r is not valid; choose %(choices)s.")
            % {"value": value, "choices": ", ".join(DIGEST_CHOICES)}
        )
    return None if chosen == "none" else chosen


#: the calendar napflow plans on: wide enough for any plan, narrow enough that every date
#: converts to UTC and back without overflow
FIRST_YEAR, LAST_YEAR = 1900, 2999


#: how parse_day refuses a value, naming the option or parameter (``--since``) it came in
DAY_REFUSALS = (
    N_("%(what)s %(value)r is not a date; write it as YYYY-MM-DD."),
    N_("%(what)s %(value)s is out of range: years %(first)d-%(last)d."),
)


def parse_day(value: str, what: str, refusals: tuple[str, str] = DAY_REFUSALS) -> date:
    """Return the date written as YYYY-MM-DD; ``what`` names it in the error.

    ``refusals`` are the two sentences (N_) that refuse it, not a date or out of range,
    with ``%(what)s``, ``%(value)s``, ``%(first)d`` and ``%(last)d`` to fill in: by default
    the ones naming ``what`` (an option or parameter); a deadline's date has its own.
    """
    not_a_date, out_of_range = refusals
    try:
        day = date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InputError(_(not_a_date) % {"what": what, "value": value}) from exc
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InputError(
            _(out_of_range) % {"what": what, "value": value, "first": FIRST_YEAR, "last": LAST_YEAR}
        )
    return day
