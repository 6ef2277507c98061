"""Country codes and names: napflow reads pycountry's ISO 3166-1 data without importing it.

Importing pycountry reads every installed distribution's metadata (tens of milliseconds on
each CLI call); napflow reads the same data file. These tests hold it to pycountry's own
answers, so a change in pycountry's data layout fails here first.
"""

from __future__ import annotations

import pycountry
import pytest

from napflow import inputs
from napflow.errors import InputError
from napflow.inputs import country_code, country_name

pytestmark = pytest.mark.unit


def test_every_country_has_pycountrys_common_name_and_its_code_is_accepted() -> None:
    countries = list(pycountry.countries)
    assert len(countries) > 240
    for country in countries:
        expected = getattr(country, "common_name", None) or country.name
        assert country_name(country.alpha_3) == expected
        assert country_code(f" {country.alpha_3.lower()} ") == country.alpha_3


def test_the_reference_countries_read_as_people_know_them() -> None:
    assert [country_name(c) for c in ("TJK", "KGZ", "TKM", "SRB")] == [
        "Tajikistan",
        "Kyrgyzstan",
        "Turkmenistan",
        "Serbia",
    ]


# the fifth is TJK written with Cyrillic look-alikes
@pytest.mark.parametrize("value", ["XXX", "TJ", "TJKX", "", "\u0422J\u041a", "12 "])
def test_anything_else_is_refused_naming_the_form(value: str) -> None:
    with pytest.raises(InputError, match="not an ISO 3166-1 alpha-3 country code"):
        country_code(value)


def test_an_unknown_code_is_shown_as_itself() -> None:
    assert country_name("XXX") == "XXX"


def test_the_data_file_and_pycountry_itself_give_the_same_names() -> None:
    # the fallback used should a pycountry release move its data file
    assert inputs._countries_from_pycountry() == inputs._countries()
