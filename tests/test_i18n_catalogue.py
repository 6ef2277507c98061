"""The catalogues: every message the code marks has its translation, with the same values.

The messages are extracted from the code and templates at test time with Babel (the same
extraction as `pybabel extract -F napflow/i18n/babel.cfg`, docs/translating.md), so a new
message without a translation, a translation that lost a placeholder, or a translation of
a message the code no longer has fails here, never on a reader's screen.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from napflow import i18n
from napflow.i18n.translate import catalogue_path

REPO = Path(__file__).resolve().parent.parent
TRANSLATED = [locale for locale in i18n.AVAILABLE if locale != i18n.SOURCE]


@functools.cache
def extracted() -> dict[tuple[str | None, str], str]:
    """Return every marked message as (context, id) -> where it is."""
    with (REPO / "napflow" / "i18n" / "babel.cfg").open() as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)
    found = {}
    for filename, line, message, _comments, context in extract_from_dir(
        REPO, method_map, options_map
    ):
        msgid = message if isinstance(message, str) else message[0]
        if msgid:
            found[context, msgid] = f"{filename}:{line}"
    return found


def catalogue(locale: str) -> Catalog:
    with catalogue_path(locale).open("rb") as source:
        return read_po(source, locale=locale)


def test_the_code_marks_text_for_translation() -> None:
    where = set(extracted().values())
    assert len(extracted()) > 200  # the pages, the errors they show, the mails
    assert any(w.startswith("napflow/web/templates/") for w in where)
    assert any(w.startswith("napflow/services/") for w in where)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_has_a_translation(locale: str) -> None:
    found = catalogue(locale)
    untranslated = []
    for (context, msgid), where in sorted(extracted().items(), key=lambda i: i[1]):
        message = found.get(msgid, context=context)
        strings = message.string if message is not None else ""
        forms = strings if isinstance(strings, tuple) else (strings,)
        if message is None or message.fuzzy or not all(forms):
            untranslated.append(f"{where}: {msgid!r}")
    assert untranslated == [], f"{len(untranslated)} without a {locale} translation"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_translations_keep_every_value_and_plural_form(locale: str) -> None:
    found = catalogue(locale)
    problems = [f"{m.id!r}: {e}" for m, errors in found.check() for e in errors]
    assert problems == []
    plural_forms = found.num_plurals
    for message in found:
        if message.id and message.pluralizable:
            assert len(message.string) == plural_forms, message.id


@pytest.mark.parametrize("locale", TRANSLATED)
def test_no_translation_of_a_message_the_code_no_longer_has(locale: str) -> None:
    wanted = set(extracted())
    stale = [m.id for m in catalogue(locale) if m.id and (m.context, _key(m.id)) not in wanted]
    assert stale == [], "run pybabel update (docs/translating.md)"


def _key(msgid: str | tuple[str, ...]) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]
