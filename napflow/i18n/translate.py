"""The reader's locale (a context variable) and the gettext calls that follow it.

Catalogues are the ``.po`` files themselves, read with Babel and kept once per process:
nothing to compile at install time. Fuzzy entries are left out, so a translation waiting
for review shows the English text rather than a wrong one.
"""

from __future__ import annotations

import functools
import gettext as _gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from io import BytesIO
from pathlib import Path

from napflow.i18n.locales import AVAILABLE, SOURCE

DOMAIN = "napflow"
CATALOGUES = Path(__file__).parent / "catalogues"

_current: ContextVar[str] = ContextVar("napflow_locale", default=SOURCE)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it now (translate on use)."""
    return message


def catalogue_path(locale: str) -> Path:
    """Return where the catalogue of ``locale`` is."""
    return CATALOGUES / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(locale: str) -> _gettext.NullTranslations:
    """Return the translations of ``locale`` (English: none), read once per process."""
    if locale == SOURCE or locale not in AVAILABLE:
        return _gettext.NullTranslations()
    # Babel only once a reader needs another language: English costs no import
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    with catalogue_path(locale).open("rb") as source:
        catalog = read_po(source, locale=locale, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def current_locale() -> str:
    """Return the locale text is being written in now."""
    return _current.get()


@contextmanager
def use_locale(locale: str | None) -> Iterator[str]:
    """Write text in ``locale`` (None or unknown: English) inside the ``with`` block."""
    chosen = locale if locale in AVAILABLE else SOURCE
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def set_locale(locale: str | None) -> str:
    """Write text in ``locale`` from now on in this context (a web request's); return it."""
    chosen = locale if locale in AVAILABLE else SOURCE
    _current.set(chosen)
    return chosen


def gettext(message: str) -> str:
    """Return ``message`` in the current locale."""
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Return the form of a counted phrase that ``n`` takes in the current locale."""
    return translations(_current.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """Return ``message`` in the current locale, told apart from the same words elsewhere."""
    return translations(_current.get()).pgettext(context, message)
