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
    if not text or len(text) > 254 or _has_control(text) or " " in text:
        problem = "it is empty, too long or contains spaces or control characters"
    else:
        try:
            address = Address(addr_spec=text)
        except (HeaderParseError, ValueError, IndexError, AttributeError, TypeError):
            # the stdlib parser fails in several ways on malformed addresses
            problem = "it is not of the form name@domain.tld"
        else:
            if not address.username or "." not in address.domain:
                problem = "it is not of the form name@domain.tld"
    if problem:
        raise InputError(f"{value!r} is not a valid e-mail address: {problem}.")
    return text


def _one_line_text(value: str, what: str, limit: int) -> str:
    text = " ".join(value.split())
    if not text:
        raise InputError(f"The {what} must not be empty.")
    if len(text) > limit or _has_control(text):
        raise InputError(
            f"The {what} must be one line of at most {limit} characters without control characters."
        )
    return text


def token_label(value: str) -> str:
    """Return a valid API token label: one line, at most 100 characters."""
    return _one_line_text(value, "token label", 100)


def file_name(value: str) -> str:
    """Return a file's own name: no folders, no control characters, at most 255 characters.

    Only the name is kept of what a browser or a command line gives (never a path to write
    to); one with folder parts is refused rather than cut, so nobody wonders which was kept.
    """
    name = value.strip()
    if not name or name in (".", ".."):
        raise InputError("The file name must not be empty.")
    if "/" in name or "\\" in name:
        raise InputError(
            f"The file name {printable(name[:80])!r} has folder parts; give the name alone, "
            "e.g. NAP-draft-v2.docx."
        )
    if len(name) > 255 or _has_control(name):
        raise InputError(
            "The file name must be one line of at most 255 characters without control characters."
        )
    if any(unicodedata.category(c) == "Cf" for c in name):
        # right-to-left overrides and the like make "report\u202efdp.exe" show as a PDF
        raise InputError(
            "The file name must not hold invisible formatting characters (such as "
            "right-to-left marks)."
        )
    return name


def person_name(value: str) -> str:
    """Return a person's display name, whitespace tidied."""
    return _one_line_text(value, "name", 200)


def plan_title(value: str) -> str:
    """Return a plan title, whitespace tidied."""
    return _one_line_text(value, "title", 500)


def deadline_text(value: str, what: str) -> str:
    """Return a deadline's title or location: one line of at most 200 characters."""
    return _one_line_text(value, what, 200)


def country_code(value: str) -> str:
    """Return an ISO 3166-1 alpha-3 country code such as ``TJK``."""
    code = value.strip().upper()
    if len(code) != 3 or not code.isascii() or code not in _countries():
        raise InputError(
            f"{value!r} is not an ISO 3166-1 alpha-3 country code; use e.g. TJK, KGZ or SRB."
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
    spec = importlib.util.find_spec("pycountry")
    folders = spec.submodule_search_locations if spec is not None else None
    try:
        if not folders:
            raise FileNotFoundError("pycountry")
        data = json.loads(
            (Path(folders[0]) / "databases" / "iso3166-1.json").read_text(encoding="utf-8")
        )
        return {c["alpha_3"]: c.get("common_name") or c["name"] for c in data["3166-1"]}
    except (OSError, ValueError, KeyError, TypeError):
        return _countries_from_pycountry()


def _countries_from_pycountry() -> dict[str, str]:
    """Return alpha-3 code -> common English name, asking pycountry itself (slower)."""
    import pycountry

    return {c.alpha_3: getattr(c, "common_name", None) or c.name for c in pycountry.countries}


def country_name(code: str) -> str:
    """Return the common English name of an alpha-3 country code (the code if unknown)."""
    return _countries().get(code, code)


@functools.lru_cache(maxsize=4096)
def plan_key(value: str) -> str:
    """Return a plan key such as ``TJK-2015``: letters, digits and single hyphens, <= 32."""
    key = value.strip()
    key = key.upper() if key.isascii() else key
    if not KEY_RE.fullmatch(key) or len(key) > 32:
        raise InputError(
            f"{value!r} is not a valid plan key; use letters, digits and single hyphens, "
            "starting with a letter, at most 32 characters (e.g. TJK-2015)."
        )
    return key


def comment(value: str | None) -> str | None:
    """Return a comment with line endings normalised, or None for no comment."""
    if value is None:
        return None
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > MAX_COMMENT:
        raise InputError(f"The comment is {len(text)} characters long; at most {MAX_COMMENT}.")
    if _CONTROL_BUT_NEWLINE_TAB.search(text):
        raise InputError(
            "The comment contains control characters; only text, new lines and tabs are accepted."
        )
    return text or None


def timezone(value: str) -> str:
    """Return a valid IANA time zone name."""
    try:
        return validate_timezone(value)
    except ValueError as exc:
        raise InputError(f"The time zone is not valid: {exc}.") from exc


#: the calendar napflow plans on: wide enough for any plan, narrow enough that every date
#: converts to UTC and back without overflow
FIRST_YEAR, LAST_YEAR = 1900, 2999


def parse_day(value: str, what: str) -> date:
    """Return the date written as YYYY-MM-DD; ``what`` names it in the error."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InputError(f"{what} {value!r} is not a date; write it as YYYY-MM-DD.") from exc
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InputError(f"{what} {value} is out of range: years {FIRST_YEAR}-{LAST_YEAR}.")
    return day
