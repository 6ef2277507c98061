"""Text for people in their own language: catalogues, the reader's locale, dates and lists.

English is the language the text is written in (the message ids); every other language is
a gettext catalogue in ``catalogues/<locale>/LC_MESSAGES/napflow.po``, read with Babel when
first needed, so ``pip install`` needs no compile step. Whose language is used is a
context variable set for each web request and each mail rendered (:func:`use_locale`);
code marks text with :func:`gettext` (``_``), :func:`ngettext` for counted nouns (Russian
has three plural forms), and :func:`N_` for text translated later. Dates, weekdays,
numbers and lists come from Babel in the same locale. docs/translating.md says how to add
a language.
"""

from napflow.i18n.formats import (
    format_date,
    format_date_range,
    format_datetime,
    format_day,
    format_duration,
    format_full_date,
    format_list,
    format_month,
    format_number,
    format_weekday,
)
from napflow.i18n.locales import AVAILABLE, SOURCE, language_name, negotiate, parse_locale
from napflow.i18n.translate import (
    N_,
    current_locale,
    gettext,
    ngettext,
    pgettext,
    translations,
    use_locale,
)

_ = gettext

__all__ = [
    "AVAILABLE",
    "N_",
    "SOURCE",
    "_",
    "current_locale",
    "format_date",
    "format_date_range",
    "format_datetime",
    "format_day",
    "format_duration",
    "format_full_date",
    "format_list",
    "format_month",
    "format_number",
    "format_weekday",
    "gettext",
    "language_name",
    "negotiate",
    "ngettext",
    "parse_locale",
    "pgettext",
    "translations",
    "use_locale",
]
