"""Jinja2 templates that speak the reader's language.

:func:`install` gives an environment Jinja2's i18n extension (``{% trans %}``, ``_()``,
``ngettext``, ``pgettext``) bound to the current locale, new-style: placeholders are
named, and values put into an autoescaped template are escaped. It also gives the
locale's date, day, weekday and list filters and ``locale``, the language of the page.
"""

from __future__ import annotations

from jinja2 import Environment

from napflow.i18n.formats import (
    format_date,
    format_datetime,
    format_day,
    format_duration,
    format_list,
    format_weekday,
)
from napflow.i18n.locales import AVAILABLE, language_name
from napflow.i18n.translate import current_locale, gettext, ngettext, pgettext


def install(env: Environment) -> Environment:
    """Make ``env``'s templates translatable and give them the locale's formats."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the extension
        gettext, ngettext, newstyle=True, pgettext=pgettext
    )
    env.filters["date"] = format_date
    env.filters["datetime"] = format_datetime
    env.filters["day"] = format_day
    env.filters["duration"] = format_duration
    env.filters["weekday"] = format_weekday
    env.filters["and_list"] = format_list  # not "list": Jinja's own turns a value into one
    env.globals["locale"] = current_locale
    env.globals["languages"] = lambda: [(code, language_name(code)) for code in AVAILABLE]
    return env
