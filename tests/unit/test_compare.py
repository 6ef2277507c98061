"""Word-by-word comparison of two drafts' texts (napflow.documents.compare)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from napflow.documents.compare import DELETE, INSERT, compare_words, excerpts

_WORD = st.sampled_from(["plan", "annex", "B", "C.", "export", "controls,", "2015", "the"])
_SPACE = st.sampled_from([" ", "  ", "\n", "\n\n", "\t"])


@st.composite
def texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(_WORD, max_size=30))
    return "".join(word + draw(_SPACE) for word in words)


def test_a_changed_word_is_one_deletion_and_one_insertion() -> None:
    found = compare_words("The list of 2014.\nAnnex B.", "The list of 2015.\nAnnex B.")
    assert (found.inserted, found.deleted) == (1, 1)
    assert [(c.op, c.text) for c in found.changes if c.op in (DELETE, INSERT)] == [
        (DELETE, "2014."),
        (INSERT, "2015."),
    ]


def test_spacing_and_line_breaks_are_no_change() -> None:
    assert compare_words("Annex B  and C.", "Annex\nB and\n\nC.").same


@given(texts(), texts())
def test_the_runs_give_back_both_texts_word_for_word(old: str, new: str) -> None:
    found = compare_words(old, new)
    kept_new = " ".join(c.text for c in found.changes if c.op != DELETE)
    kept_old = " ".join(c.text for c in found.changes if c.op != INSERT)
    assert kept_new.split() == new.split()
    assert kept_old.split() == old.split()
    assert found.inserted == sum(len(c.text.split()) for c in found.changes if c.op == INSERT)
    assert found.same == (old.split() == new.split())


def test_a_mail_summary_shows_each_change_with_a_few_words_either_side() -> None:
    old = " ".join(f"w{i}" for i in range(100))
    new = old.replace("w10 ", "ten ").replace("w14", "x14").replace("w80", "eighty")
    passages = excerpts(compare_words(old, new), context=3)
    shown = [
        "".join(
            {"equal": c.text, "insert": f"{{+{c.text}+}}", "delete": f"[-{c.text}-]"}[c.op]
            for c in p
        )
        for p in passages
    ]
    # two changes four words apart make one passage; the far one its own
    assert shown == [
        "… w7 w8 w9 [-w10-]{+ten+} w11 w12 w13 [-w14-]{+x14+} w15 w16 w17 …",
        "… w77 w78 w79 [-w80-]{+eighty+} w81 w82 w83 …",
    ]
    assert len(excerpts(compare_words(old, new), context=3, limit=1)) == 1
    assert excerpts(compare_words(old, old)) == []


def test_a_mail_summary_stays_short_however_much_changed() -> None:
    old = " ".join(f"w{i}" for i in range(3000))
    dense = " ".join(f"x{i}" if i % 3 == 0 else f"w{i}" for i in range(3000))  # every third
    chapter = old.replace("w1500 ", "w1500 " + " ".join(f"new{i}" for i in range(500)) + " ")
    for new in (dense, chapter):
        passages = excerpts(compare_words(old, new), context=8, limit=5, longest=60)
        assert 1 <= len(passages) <= 5
        for passage in passages:
            # the changes within 60 words (and a "…" where cut), plus at most 8 words of
            # context either side (and their "…")
            assert sum(len(c.text.split()) for c in passage) <= 61 + 2 * 9
    (cut,) = excerpts(compare_words(old, chapter), longest=60)
    inserted = next(c for c in cut if c.op == INSERT)
    assert inserted.text.startswith("new0 new1 ") and inserted.text.endswith("new59 …")
