"""read_records: the reader is chosen by the file's extension; unknown or missing files are InputErrors."""

import json
import shutil
from pathlib import Path

import openpyxl
import pytest

from resolver.errors import InputError, InputProblem
from resolver.ingest.files import read_records

SAMPLES = Path(__file__).parent / "fixtures"  # copies of the shared amoCRM API v4 samples
CONTACTS = [{"id": 1, "name": "Петров Иван"}, {"id": 2, "name": "Ёлкина Ольга"}]


def _write(path: Path) -> Path:
    """Write the two contacts above in the format the file's extension names."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        path.write_text(json.dumps(CONTACTS, ensure_ascii=False), encoding="utf-8")
    elif suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(c) for c in CONTACTS), encoding="utf-8")
    elif suffix == ".xlsx":
        workbook = openpyxl.Workbook()
        for row in [["ID", "ФИО"], *([c["id"], c["name"]] for c in CONTACTS)]:
            workbook.active.append(row)
        workbook.save(path)
    else:
        delimiter = "\t" if suffix in {".tsv", ".txt"} else ";"
        lines = [f"ID{delimiter}ФИО", *(f"{c['id']}{delimiter}{c['name']}" for c in CONTACTS)]
        path.write_text("\n".join(lines), encoding="cp1251" if suffix == ".txt" else "utf-8")
    return path


@pytest.mark.parametrize(
    "name",
    [
        "contacts.json",
        "contacts.jsonl",
        "contacts.csv",
        "contacts.tsv",
        "contacts.txt",
        "contacts.xlsx",
        "КОНТАКТЫ.CSV",
    ],
    ids=["json", "jsonl", "csv", "tsv", "txt-cp1251", "xlsx", "upper-case-extension"],
)
def test_each_supported_extension_reads_the_same_records(tmp_path, name):
    records = read_records(_write(tmp_path / name), "contact")

    assert [(r.record_id, r.name) for r in records] == [("1", "Петров Иван"), ("2", "Ёлкина Ольга")]


def test_shared_sample_page_reads_through_dispatch(tmp_path):
    path = shutil.copy(SAMPLES / "companies_page.json", tmp_path / "companies.json")

    records = read_records(Path(path), "company")

    assert [(r.record_id, r.inn) for r in records] == [("5120001", "7707083893"), ("5120002", None)]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("contacts.xls", ".xls"),
        ("contacts.ods", ".ods"),
        ("contacts", "(no extension)"),
        ("дамп.JSON.gz", ".gz"),
    ],
    ids=["old-excel", "ods", "no-extension", "gzip"],
)
def test_unsupported_extension(tmp_path, name, shown):
    path = tmp_path / name
    path.write_bytes(b"1,2\n")

    with pytest.raises(InputError) as caught:
        read_records(path, "contact")

    assert caught.value.problems == [
        InputProblem(f"unsupported file type {shown}; expected .json, .jsonl, .csv or .xlsx", name)
    ]


@pytest.mark.parametrize("name", ["нет-такого.csv", "missing.json"], ids=["csv", "json"])
def test_missing_file_names_the_path(tmp_path, name):
    path = tmp_path / name

    with pytest.raises(InputError) as caught:
        read_records(path, "contact")

    assert caught.value.problems == [InputProblem("file not found", str(path))]
    assert str(caught.value) == f"{path}: file not found"


def test_directory_is_not_a_file(tmp_path):
    path = tmp_path / "contacts.csv"
    path.mkdir()

    with pytest.raises(InputError, match="is a directory, not a file"):
        read_records(path, "contact")


def test_column_map_with_json_is_refused(tmp_path):
    path = _write(tmp_path / "contacts.json")

    with pytest.raises(InputError, match="a column map applies to CSV and XLSX files"):
        read_records(path, "contact", column_map={"name": ["ФИО"]})


def test_column_map_and_extra_fields_reach_the_table_reader(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("Клиент;Тел.;Город\nИван;8916;Москва\n", encoding="utf-8")

    records = read_records(
        path, "contact", column_map={"name": ["Клиент"], "phone": ["Тел."]}, extra_fields={"city": "Город"}
    )

    assert [(r.record_id, r.name, r.phones, r.extra) for r in records] == [
        ("2", "Иван", ("8916",), {"city": "Москва"})
    ]
