"""Finding English left in a page or mail meant for another language.

Two checks. :func:`english_left` compares the rendered text with the code's own English:
every message the code marks for translation (extracted with Babel, as `pybabel extract`
does), cut at its placeholders and markup into the literal runs a reader would see; a run
found in the text, as whole words, is a message that was not translated. Text that never
went through gettext is in no catalogue: :func:`latin_phrases` finds it as words of Latin
letters in a text that should have none but the data's own (addresses, keys, names).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from babel.messages.catalog import PYTHON_FORMAT
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from sqlalchemy import select

from napflow.ledger.record import Kind
from napflow.storage.schema import deadlines, drafts, history, people, plans

REPO = Path(__file__).resolve().parent.parent
#: what a message's literal text is cut at besides its placeholders (Babel's PYTHON_FORMAT,
#: replaced by NUL first): markup, a template's values, commands quoted in backticks
_PLACEHOLDER = re.compile(r"\x00|<[^>]*>|\{\{.*?\}\}|`[^`]*`")
_WORD = re.compile(r"[A-Za-z]{2,}")
#: what is not words in any language: addresses, links, paths, plan keys, commands, zones
_NOT_WORDS = re.compile(
    r"[\w.+-]+@[\w.-]+|https?://\S+|/[\w./?=&%-]+|\b[A-Z]{3}-[\w-]+|SHA-256|\bnapflow\b"
    # a command quoted in backticks, an option of one, a time zone (Asia/Dushanbe)
    r"|`[^`]*`|--[\w-]+|\b[A-Z][a-z]+(?:/[A-Za-z_+-]+)+"
)


@functools.cache
def extracted() -> dict[tuple[str | None, str], tuple[str, tuple[str, ...]]]:
    """Return every marked message: (context, id) -> (where, all its English forms)."""
    with (REPO / "napflow" / "i18n" / "babel.cfg").open() as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)
    found = {}
    for filename, line, message, _comments, context in extract_from_dir(
        REPO, method_map, options_map
    ):
        forms = (message,) if isinstance(message, str) else tuple(m for m in message if m)
        if forms and forms[0]:
            found[context, forms[0]] = (f"{filename}:{line}", forms)
    return found


@functools.cache
def english_runs() -> frozenset[str]:
    """Return the literal runs of English text in every marked message (placeholders cut out).

    A run is kept if a reader could tell it is English: two words or more, or one word of
    four letters or more.
    """
    runs = set()
    for _where, forms in extracted().values():
        for form in forms:
            for run in _PLACEHOLDER.split(PYTHON_FORMAT.sub("\x00", form)):
                run = " ".join(run.split()).strip(" .,:;()[]\"'-")
                words = _WORD.findall(run)
                if len(words) >= 2 or (len(words) == 1 and len(words[0]) >= 4):
                    runs.add(run)
    return frozenset(runs)


def visible_text(page: str) -> str:
    """Return what a reader sees of an HTML page: its text, titles, labels and button values."""
    # scripts, styles, and code (commands and digests are no language)
    page = re.sub(r"(?is)<(script|style|code)\b.*?</\1>", " ", page)
    labels = re.findall(r'(?i)\b(?:aria-label|title|placeholder|alt)="([^"]*)"', page)
    text = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(" ".join([text, *labels]))


def english_left(text: str, data: AbstractSet[str] = frozenset()) -> list[str]:
    """Return the English runs of napflow's own messages found in ``text``.

    ``data`` are values from the database (titles, names, comments) that are shown as
    written, in whatever language they were written in: they are removed first.
    """
    text = " ".join(_NOT_WORDS.sub(" ", _without(text, data)).split())
    return sorted(
        run
        for run in english_runs()
        if re.search(rf"(?<![A-Za-z]){re.escape(run)}(?![A-Za-z])", text)
    )


def latin_phrases(text: str, data: AbstractSet[str] = frozenset()) -> list[str]:
    """Return runs of two or more Latin words (three letters or more) left in ``text``.

    Addresses, links, paths, plan keys, "napflow" and "SHA-256" are not words; ``data``
    (values from the database) is removed first.
    """
    text = _without(text, data)
    text = _NOT_WORDS.sub(" ", text)
    return re.findall(r"[A-Za-z]{3,}(?:[\s,.;:'-]+[A-Za-z]{3,})+", text)


def _without(text: str, data: AbstractSet[str]) -> str:
    """Return ``text`` without the values of ``data``, each taken out as whole words."""
    for value in sorted(data, key=len, reverse=True):
        if value.strip():
            text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", " ", text)
    return text


def database_text(rt: Any) -> set[str]:
    """What people typed (pages show it as written, in its own language), and workflow ids.

    Only the columns that hold what someone wrote: names, addresses, titles given to plans
    and deadlines (a deadline kind's own title is napflow's, and translated), comments,
    places, drafts' names and notes, country codes; and the identifiers of states, roles,
    triggers and history records, which the pages show beside their titles.
    """
    # the kinds of history record, identifiers too
    found = {v for k, v in vars(Kind).items() if k.isupper() and isinstance(v, str)}
    kind_titles: set[str] = set()
    for name in rt.catalog.names():
        definition = rt.catalog.get(name)
        found.update(definition.state_names, definition.role_names, definition.triggers)
        kind_titles.update(k.title for k in definition.deadlines)
    typed = (
        people.c.name,
        people.c.email,
        plans.c.title,
        plans.c.country,  # ISO codes, the same in every language
        history.c.comment,
        history.c.actor,
        deadlines.c.location,
        drafts.c.file_name,
        drafts.c.note,
    )
    with rt.db.read() as conn:
        for column in typed:
            found.update(v for v in conn.execute(select(column)).scalars() if v)
        titles = conn.execute(select(deadlines.c.title)).scalars()
        found.update(t for t in titles if t not in kind_titles)
    return found
