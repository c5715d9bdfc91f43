"""The default phone region of an account or a file: local numbers read as that country's."""

from __future__ import annotations

import pytest

from resolver.normalize.phones import normalize_phones
from resolver.normalize.region import check_region, localize_phones, region_for_country
from resolver.records import Record


@pytest.mark.parametrize(("country", "region"), [
    ("RU", "RU"), ("kz", "KZ"), ("BY", "BY"), (" uz ", "UZ"),
    (None, "RU"), ("", "RU"), ("Russia", "RU"), ("XX", "RU"),  # unknown -> the default
], ids=["ru", "kz lower case", "by", "uz with spaces", "none", "empty", "a name", "not a country"])
def test_region_for_country(country: str | None, region: str):
    assert region_for_country(country) == region


@pytest.mark.parametrize(("region", "raw", "expected"), [
    ("BY", "8 029 123-45-67", ["+375291234567"]),        # Belarus: trunk 8, operator 029
    ("KZ", "8 701 123 45 67", ["+77011234567"]),         # Kazakhstan shares +7
    ("BY", "+7 916 123-45-67", ["+79161234567"]),        # written with + : the same under any region
    ("BY", "нет", ["нет"]),                              # unreadable: kept as it was (junk rules decide)
    ("RU", "8 029 123-45-67", ["8 029 123-45-67"]),      # the default region changes nothing
], ids=["by local", "kz local", "international", "junk kept", "ru untouched"])
def test_localize_phones(region: str, raw: str, expected: list[str]):
    assert list(localize_phones(Record("contact", "1", phones=(raw,)), region).phones) == expected


def test_check_region_names_what_it_accepts():
    assert check_region("by") == "BY"
    with pytest.raises(ValueError, match="ISO 3166"):
        check_region("Belarus")


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("386-5286", "US", ["local:US:3865286"]),            # dialled without the area code
    ("(773) 386-5286", "US", ["+17733865286"]),          # with it: E.164
    ("2262649, 773 226 2649", "US", ["local:US:2262649", "+17732262649"]),
    ("123-4567", "US", []),                              # a placeholder stays nothing
    ("386-5286", "RU", []),                              # Russian files write the city code
    ("local:US:3865286", "RU", ["local:US:3865286"]),    # already read under its region
])
def test_local_numbers_under_a_named_region(raw, region, expected):
    assert normalize_phones(raw, region) == expected


def test_records_of_one_local_number_share_it():
    a = localize_phones(Record("company", "1", name="x", phones=("386 5286",)), "US")
    b = localize_phones(Record("company", "2", name="y", phones=("3865286",)), "US")
    assert a.phones == b.phones == ("local:US:3865286",)
