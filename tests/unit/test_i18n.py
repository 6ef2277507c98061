"""Languages: choosing one, Babel's dates and lists in it, and workflow titles in it.

Expected Russian forms are written by hand from Russian usage ("31 декабря 2015 г.",
genitive month; "четверг" lower case; lists joined with "и").
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from napflow import i18n
from napflow.errors import InvalidDefinition
from napflow.workflow.definition import load_definition

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_napflow_speaks_english_and_russian() -> None:
    assert i18n.AVAILABLE[:1] == ("en",) and "ru" in i18n.AVAILABLE


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
        ("en-GB,en;q=0.9,ru;q=0.8", "en"),
        ("de-DE, ru;q=0.5, en;q=0.4", "ru"),  # German is not available: the next best
        ("en;q=0.2, ru;q=0.9", "ru"),  # weights, not order
        ("ru;q=0, en", "en"),  # q=0 means "not this one"
        ("tg, fr", "en"),  # nothing available: the default
        ("ru;q=abc, en", "en"),  # a malformed weight drops that part only
        ("", "en"),
        (None, "en"),
    ],
)
def test_accept_language_is_negotiated(header: str | None, chosen: str) -> None:
    assert i18n.negotiate(header) == chosen


@pytest.mark.parametrize(
    ("given", "locale"), [("ru", "ru"), ("ru-RU", "ru"), ("RU_ru", "ru"), (" en ", "en")]
)
def test_a_locale_is_read_with_or_without_region(given: str, locale: str) -> None:
    assert i18n.parse_locale(given) == locale


def test_an_unknown_locale_says_which_there_are() -> None:
    with pytest.raises(ValueError, match=r"unknown locale 'xx'; napflow speaks en, ru"):
        i18n.parse_locale("xx")


def test_dates_weekdays_and_lists_are_the_readers() -> None:
    day, when = date(2015, 12, 31), datetime(2015, 12, 31, 18, 59, tzinfo=UTC)
    with i18n.use_locale("ru"):
        # CLDR keeps "г." on the year's line with a narrow no-break space (U+202F)
        assert i18n.format_date(day) == "31 декабря 2015\u202fг."
        assert i18n.format_weekday(date(2015, 10, 8)) == "четверг"
        assert i18n.format_datetime(when, "Asia/Dushanbe") == "31 декабря 2015\u202fг., 23:59"
        assert i18n.format_list(["Д. Саидов", "Н. Курбонов", "С. Назарова"]) == (
            "Д. Саидов, Н. Курбонов и С. Назарова"
        )
    # English as the UN writes it, not "December 31, 2015"
    assert i18n.format_date(day) == "31 December 2015"
    assert i18n.format_weekday(date(2015, 10, 8)) == "Thursday"
    assert i18n.format_datetime(when, "America/New_York") == "31 December 2015, 13:59"
    assert i18n.format_list(["A", "B", "C"]) == "A, B and C"


def test_the_locale_is_the_contexts_and_comes_back() -> None:
    assert i18n.current_locale() == "en"
    with i18n.use_locale("ru"):
        assert i18n.current_locale() == "ru"
        with i18n.use_locale("en"):
            assert i18n.current_locale() == "en"
        assert i18n.current_locale() == "ru"
    with i18n.use_locale("xx"):  # unknown: English, never an error while rendering
        assert i18n.current_locale() == "en"
    assert i18n.current_locale() == "en"


def test_russian_counts_take_three_forms() -> None:
    message = (
        "Too many failed logins; try again in %(minutes)d minute.",
        "Too many failed logins; try again in %(minutes)d minutes.",
    )
    with i18n.use_locale("ru"):
        said = [i18n.ngettext(*message, n) % {"minutes": n} for n in (1, 3, 5, 21, 11, 112)]
    endings = [s.rsplit(" ", 2)[-2:] for s in said]
    assert endings == [
        ["1", "минуту."],
        ["3", "минуты."],
        ["5", "минут."],
        ["21", "минуту."],
        ["11", "минут."],  # 11-14 take the genitive plural, whatever their last digit
        ["112", "минут."],
    ]
    assert i18n.ngettext(*message, 1) % {"minutes": 1} == message[0] % {"minutes": 1}


def test_the_shipped_workflows_titles_read_in_russian() -> None:
    nap = load_definition(REPO / "workflows" / "nap.toml")
    with i18n.use_locale("ru"):
        assert nap.state_title("expert_review") == "Экспертное рассмотрение"
        assert nap.title_in() == "Национальный план действий по осуществлению резолюции 1540"
        assert nap.role_title("approver") == "Утверждающее лицо"
        assert nap.transition_for("submitted", "approve").title_in() == "Утвердить план"  # type: ignore[union-attr]
        assert nap.deadline_kind("approval").title_in() == "Утверждение на министерском уровне"  # type: ignore[union-attr]
    assert nap.state_title("expert_review") == "Expert review"
    assert nap.role_title("approver") == "Approver"
    assert nap.untranslated_titles() == {"ru": []}


def _workflow(tmp_path: Path, old: str, new: str) -> Path:
    text = (REPO / "workflows" / "nap.toml").read_text()
    assert old in text
    path = tmp_path / "nap.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_partly_translated_workflow_is_told_which_titles_miss(tmp_path: Path) -> None:
    path = _workflow(
        tmp_path, 'titles = { ru = "Экспертное рассмотрение" }', 'titles = { kk = "Сараптама" }'
    )
    missing = load_definition(path).untranslated_titles()
    assert missing["kk"][:2] == ["workflow.title", "roles.coordinator.title"]
    assert "states.expert_review.title" not in missing["kk"]
    assert missing["ru"] == ["states.expert_review.title"]


@pytest.mark.parametrize(
    ("titles", "problem"),
    [
        ('titles = { xx_yy = "a" }', "states.drafting.titles.xx_yy: is not a language code"),
        ('titles = { en = "a" }', "en is the language of the title itself"),
        ('titles = { ru = " " }', "states.drafting.titles.ru: must be a title that is not empty"),
        ('titles = "Подготовка"', "states.drafting.titles: must be a table of locale = title"),
    ],
)
def test_bad_translations_are_named(tmp_path: Path, titles: str, problem: str) -> None:
    path = _workflow(tmp_path, 'titles = { ru = "Подготовка проекта" }', titles)
    with pytest.raises(InvalidDefinition) as raised:
        load_definition(path)
    assert problem in str(raised.value)


def test_country_names_follow_the_reader_as_un_documents_write_them() -> None:
    from napflow.inputs import country_name

    with i18n.use_locale("ru"):
        names = [country_name(code) for code in ("TJK", "KGZ", "TKM", "AUT")]
    assert names == ["Таджикистан", "Кыргызстан", "Туркменистан", "Австрия"]
    assert country_name("KGZ") == "Kyrgyzstan"
    with i18n.use_locale("ru"):
        assert country_name("XXX") == "XXX"  # no such country: the code as given
