"""Titles of a workflow in several languages, written in the workflow file itself.

Beside each ``title`` (of the workflow, a state, a transition, a role, a deadline kind) a
file may give ``titles``, a table of locale -> title::

    [states.drafting]
    title = "Drafting"
    titles = { ru = "Подготовка проекта" }

The title shown is the reader's language's, else the ``title`` itself (written in
English, the language napflow's own text is written in). :func:`coverage` tells which
locales are only partly translated, for ``workflow check``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from napflow.i18n import SOURCE, current_locale
from napflow.workflow.toml_checks import Problems

#: a title's translations: (locale, title) pairs, as the file lists them
Titles = tuple[tuple[str, str], ...]


def load_titles(
    spec: dict[str, Any], where: str, problems: Problems, key: str = "titles"
) -> Titles:
    """Return ``spec[key]`` (locale -> title), reporting what is not one."""
    value = spec.get(key)
    if value is None:
        return ()
    if not isinstance(value, dict):
        problems.add(f"{where}.{key}", 'must be a table of locale = title, e.g. { ru = "..." }')
        return ()
    found = []
    for locale, title in value.items():
        if not _is_locale(locale):
            problems.add(f"{where}.{key}.{locale}", "is not a language code such as ru, en or tg")
        elif locale == SOURCE:
            problems.add(
                f"{where}.{key}.{locale}",
                f"{SOURCE} is the language of the title itself: change the title instead",
            )
        elif not isinstance(title, str) or not title.strip():
            problems.add(f"{where}.{key}.{locale}", "must be a title that is not empty")
        else:
            found.append((locale, title))
    return tuple(found)


def _is_locale(code: str) -> bool:
    from babel import Locale  # only for a file that has translations
    from babel.core import UnknownLocaleError

    if not (code.isascii() and code.isalpha() and code.islower() and 2 <= len(code) <= 3):
        return False
    try:
        Locale.parse(code)
    except (ValueError, UnknownLocaleError):
        return False
    return True


class Titled:
    """What has a title in its file's language and translations of it (``titles``)."""

    title: str
    titles: Titles

    def title_in(self, locale: str | None = None) -> str:
        """Return the title in ``locale`` (default: the reader's), else the file's title."""
        return localized(self.title, self.titles, locale)


def localized(source: str, titles: Titles, locale: str | None = None) -> str:
    """Return the title in ``locale`` (default: the reader's), else ``source``."""
    wanted = locale or current_locale()
    if wanted != SOURCE:
        for code, title in titles:
            if code == wanted:
                return title
    return source


def coverage(items: Iterable[tuple[str, Titles]]) -> dict[str, list[str]]:
    """Return, for each locale some title is translated to, the titled items it misses.

    ``items`` are (where, titles) of every title in the file; a locale that misses none
    maps to [].
    """
    listed = list(items)
    locales = sorted({code for _where, titles in listed for code, _title in titles})
    return {
        code: [where for where, titles in listed if code not in dict(titles)] for code in locales
    }
