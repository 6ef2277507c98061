"""What changed between two drafts, word by word.

The texts are split into words (and the space between them, kept so the result reads as
the document did) and compared with the standard library's ``difflib.SequenceMatcher``,
which finds the longest common runs: the same algorithm as ``diff``'s, on words.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from napflow.i18n import _, format_number

EQUAL, INSERT, DELETE = "equal", "insert", "delete"
#: the most words a text may have to be compared (the comparison's time grows with the
#: square of the words that differ; a plan runs to some tens of thousands)
MAX_WORDS = 200_000


class TooLong(Exception):
    """A text has more words than napflow compares."""


#: a word and the space after it (the space before the first word is a token of its own)
_WORDS = re.compile(r"^\s+|\S+\s*")


@dataclass(frozen=True)
class Change:
    """One run of the comparison: text kept, inserted or deleted."""

    op: str
    text: str


@dataclass(frozen=True)
class Comparison:
    """The runs that turn the old text into the new one, and how many words each way."""

    changes: list[Change]
    inserted: int
    deleted: int

    @property
    def same(self) -> bool:
        """True when not a word changed."""
        return not self.inserted and not self.deleted


def compare_words(old: str, new: str, max_words: int = MAX_WORDS) -> Comparison:
    """Compare two texts word by word (a change of spacing alone is no change).

    A text of more than ``max_words`` words raises TooLong before any comparing.
    """
    before, after = _WORDS.findall(old), _WORDS.findall(new)
    longest = max(len(before), len(after))
    if longest > max_words:
        raise TooLong(
            _("it has %(words)s words, more than the %(most)s napflow compares")
            % {"words": format_number(longest), "most": format_number(max_words)}
        )
    # compare the words alone, so that spacing and line breaks are no change
    key_before = [w.strip() for w in before]
    key_after = [w.strip() for w in after]
    matcher = difflib.SequenceMatcher(None, key_before, key_after, autojunk=False)
    changes: list[Change] = []
    inserted = deleted = 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == EQUAL:
            changes.append(Change(EQUAL, "".join(after[j1:j2])))
            continue
        removed, added = "".join(before[i1:i2]), "".join(after[j1:j2])
        deleted += len(removed.split())
        inserted += len(added.split())
        # the space after a changed run is shown as space, not as part of the change
        if removed.strip():
            changes.append(Change(DELETE, removed.rstrip()))
        if added.strip():
            changes.append(Change(INSERT, added.rstrip()))
        space = added[len(added.rstrip()) :] if added.strip() else removed[len(removed.rstrip()) :]
        if space:
            changes.append(Change(EQUAL, space))
    return Comparison(changes, inserted, deleted)


def excerpts(
    comparison: Comparison, context: int = 8, limit: int = 5, longest: int = 60
) -> list[list[Change]]:
    """Return up to ``limit`` passages around the changes, for a mail's short summary.

    Each passage is the changed runs with up to ``context`` words of kept text either side;
    the next change joins the passage when the kept text between is no longer than two
    contexts and the passage stays within ``longest`` words. A run longer than that (a
    chapter inserted) is cut. Text cut short starts or ends with "…".
    """
    runs: list[Change] = []
    for change in comparison.changes:  # kept text in one run, for counting its words
        if runs and change.op == EQUAL and runs[-1].op == EQUAL:
            runs[-1] = Change(EQUAL, runs[-1].text + change.text)
        else:
            runs.append(change)
    changed = [i for i, c in enumerate(runs) if c.op != EQUAL]
    passages: list[list[Change]] = []
    start = 0
    while start < len(changed) and len(passages) < limit:
        end = start
        size = _count(runs[changed[start]].text)
        while end + 1 < len(changed):
            gap = sum(_count(runs[k].text) for k in range(changed[end] + 1, changed[end + 1]))
            grow = gap + _count(runs[changed[end + 1]].text)
            if gap > 2 * context or size + grow > longest:
                break
            size += grow
            end += 1
        first, last = changed[start], changed[end]
        passage = []
        if first > 0 and runs[first - 1].op == EQUAL:
            passage.append(Change(EQUAL, _tail(runs[first - 1].text, context)))
        passage.extend(Change(c.op, _head(c.text, longest)) for c in runs[first : last + 1])
        if last + 1 < len(runs) and runs[last + 1].op == EQUAL:
            passage.append(Change(EQUAL, _head(runs[last + 1].text, context)))
        passages.append([c for c in passage if c.text])
        start = end + 1
    return passages


def _count(text: str) -> int:
    return len(text.split())


def _tail(text: str, words: int) -> str:
    found = _WORDS.findall(text)
    return "… " + "".join(found[-words:]) if len(found) > words else text


def _head(text: str, words: int) -> str:
    found = _WORDS.findall(text)
    lead = found.pop(0) if found and not found[0].strip() else ""
    return lead + "".join(found[:words]).rstrip() + " …" if len(found) > words else text
