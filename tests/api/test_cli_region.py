"""`--region XX` of `crm-dedup import` and `dedupe`: local phone numbers read as that country's."""

from __future__ import annotations

import pytest

from resolver.store import Store
from tests.api.conftest import cli

ROWS = "name,phone\nАлесь Каваль,8 029 123-45-67\nAlies Kaval,+375 29 123 45 67\n"
MAP = ["--map", "name=name", "phone=phone"]


@pytest.mark.parametrize(("region", "phones"), [
    (["--region", "by"], ["+375291234567"]),  # Belarus: trunk 8, operator 029
    ([], None),                               # read as Russian: no such number, so no phone
], ids=["belarus", "default russia"])
def test_import_reads_local_numbers_as_the_region(capsys, tmp_path, region, phones):
    (tmp_path / "by.csv").write_text(ROWS, encoding="utf-8")
    db = tmp_path / "s.duckdb"
    code, _, err = cli(capsys, "import", tmp_path / "by.csv", "--entity", "contact", "--account", "minsk", *MAP,
                       *region, "--db", db)
    assert code == 0, err
    with Store(db) as store:
        # a row without an id column is named by its line (the header is line 1)
        assert store.record("minsk", "contact", "2")["phones"] == phones
        assert store.record("minsk", "contact", "3")["phones"] == ["+375291234567"]  # written with +: any region


@pytest.mark.parametrize(("region", "grouped"), [
    (["--region", "BY"], {"2", "3"}),  # one phone, spelled two ways
    ([], set()),                       # the local spelling is no Russian number: nothing links them
], ids=["belarus", "default russia"])
def test_dedupe_groups_the_local_and_the_international_spelling(capsys, tmp_path, region, grouped):
    (tmp_path / "by.csv").write_text(ROWS, encoding="utf-8")
    code, out, err = cli(capsys, "dedupe", tmp_path / "by.csv", "--entity", "contact", *MAP, *region)
    assert code == 0, err
    assert {line.split(",")[1] for line in out.splitlines()[1:]} == grouped


def test_an_unknown_region_is_refused_naming_the_option(capsys, tmp_path):
    (tmp_path / "by.csv").write_text(ROWS, encoding="utf-8")
    code, out, err = cli(capsys, "dedupe", tmp_path / "by.csv", "--entity", "contact", *MAP, "--region", "Belarus")
    assert (code, out) == (2, "")
    assert "--region" in err and "ISO 3166" in err
