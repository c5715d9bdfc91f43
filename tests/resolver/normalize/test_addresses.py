"""Addresses: abbreviations folded, house number apart, flats and zips dropped, the city found."""

import pytest

from resolver.normalize.addresses import normalize_address, parse_address


@pytest.mark.parametrize(("a", "b"), [
    ("221 E. 51st St.", "221 East 51st Street"),
    ("316 N Pulaski Rd", "316 North Pulaski Road"),
    ("4300 W. Roosevelt Rd. Suite 200", "4300 West Roosevelt Road"),
    ("ул. Ленина, д. 5, кв. 12", "улица Ленина 5"),
    ("г. Москва, пр-т Мира, д.10", "Москва, проспект Мира 10"),
])
def test_one_place_written_two_ways_reads_alike(a, b):
    assert normalize_address(a) == normalize_address(b) is not None


@pytest.mark.parametrize(("text", "house", "street", "city"), [
    ("125009, г. Москва, Тверская ул., д. 7, офис 301", "7", "тверская", "москва"),
    ("27 Washington Oak Park IL 60302", "27", "washington oak park", ""),
    ("г. Москва, пр-т Мира, д.10 корп. 2", "10 корпус 2", "мира", "москва"),
])
def test_parts(text, house, street, city):
    assert parse_address(text) is not None
    parsed = parse_address(text)
    assert (parsed.house, parsed.street, parsed.city) == (house, street, city)


@pytest.mark.parametrize("junk", [None, "", "-", "нет"])
def test_no_address(junk):
    assert normalize_address(junk) is None


def test_linear_in_a_long_value():
    assert normalize_address("1 Main St " * 100_000) is not None  # read up to MAX_PARSED_CHARS


@pytest.mark.parametrize(("a", "b", "label"), [
    ("221 E. 51st St.", "221 East 51st Street", "Exact match on x_address"),
    ("4300 W Roosevelt Rd", "4300 W. Roosvelt Road", "same house, street alike"),
    ("221 E 51st St, Chicago", "221 East 51st Street", "same house, street alike"),  # one side names no city
    ("221 E. 51st St.", "223 E. 51st St.", "All other comparisons"),                 # the house must agree
    ("221 Main St, Chicago", "221 Main St, Springfield", "All other comparisons"),   # another city
])
def test_the_address_comparison_needs_the_same_house(a, b, label):
    import pyarrow as pa
    from splink import DuckDBAPI, Linker, SettingsCreator

    from resolver.entities import ExtraField, extra_comparison, normalize_extra

    field = ExtraField("address", "address", "Address")
    table = pa.table({"unique_id": ["1", "2"], "x_address": [normalize_extra("address", a),
                                                             normalize_extra("address", b)]})
    settings = SettingsCreator(link_type="dedupe_only", comparisons=[extra_comparison(field)],
                               blocking_rules_to_generate_predictions=["1=1"])
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(table), settings, log_level="ERROR")
    scored = linker.inference.predict(warning_mode="never").as_record_list()[0]
    levels = [lvl for lvl in settings.get_settings("duckdb").comparisons[0].comparison_levels if not lvl.is_null_level]
    assert levels[len(levels) - 1 - scored["gamma_address"]].label_for_charts == label
