"""`crm-dedup feedback FILE.jsonl` and `crm-dedup feedback export`: all-or-nothing import, JSONL export, rescans."""

import csv
import io
import json

import pytest

from resolver.groups import mint_group_id
from resolver.scan import ingest
from resolver.store import Store
from tests.api.conftest import cli
from tests.resolver.test_scan import PEOPLE

pytestmark = pytest.mark.usefixtures("cli_env")

PETROV = mint_group_id("contact", ("101", "102", "103"))
ORLOV = mint_group_id("contact", ("401", "402"))



@pytest.fixture
def db(tmp_path, capsys):
    """A store with PEOPLE in account acme, scanned by `crm-dedup scan`: {101, 102, 103} and {401, 402}."""
    path = tmp_path / "store.duckdb"
    with Store(path) as store:
        ingest(store, account_id="acme", entity="contact", records=PEOPLE)
    assert cli(capsys, "scan", "--db", path, "--account", "acme", "--entity", "contact")[0] == 0
    return path


def jsonl(path, *lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n"
                            for line in lines), encoding="utf-8")
    return path


def pair(left, right, decision="not_duplicate", **fields):
    return {"entity": "contact", "left_id": left, "right_id": right, "decision": decision, **fields}


def groups_of(capsys, db, account="acme"):
    code, out, err = cli(capsys, "groups", "--db", db, "--account", account, "--entity", "contact")
    assert code == 0, err
    members: dict[str, set[str]] = {}
    for row in csv.DictReader(io.StringIO(out)):
        members.setdefault(row["group_id"], set()).add(row["record_id"])
    return members


def test_a_file_of_decisions_splits_groups_at_once_and_rescans_keep_them_apart(capsys, db, tmp_path):
    # 103 (the call record) rejected from both Петров records; 401-402 separated, then undone
    path = jsonl(tmp_path / "decisions.jsonl",
                 pair("103", "101", reviewer="anna", at="2026-11-24T10:00:00Z"), pair("102", "103"),
                 "", pair("401", "402"), pair("402", "401", "undo", reviewer="Пётр"))

    code, out, err = cli(capsys, "feedback", path, "--db", db, "--account", "acme")

    assert (code, out) == (0, "")
    assert "stored 4 decisions" in err
    assert groups_of(capsys, db) == {PETROV: {"101", "102"}, ORLOV: {"401", "402"}}
    assert cli(capsys, "scan", "--db", db, "--account", "acme")[0] == 0
    assert groups_of(capsys, db) == {PETROV: {"101", "102"}, ORLOV: {"401", "402"}}


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ('{"entity": "contact", "left_id": "101", ', "line 2"),  # cut short
        ('["101", "102"]', "line 2"),
        (pair("101", "101"), "line 2, column right_id"),
        (pair("101", "102", "не дубль"), "line 2, column decision"),
        ({"left_id": "101", "right_id": "102", "decision": "duplicate"}, "line 2, column entity"),
        (pair("101", "x" * 129), "line 2, column right_id"),
        (pair("Иван Петров", "102"), "line 2, column left_id"),  # a name for an id
        (pair("101", "102", at="вчера"), "line 2, column at"),
        (pair("101", "102", group="ct-1"), "line 2, column group"),  # a typo of group_id
    ],
    ids=["broken-json", "not-an-object", "same-record", "unknown-decision", "no-entity", "long-id",
         "cyrillic-name-as-id", "junk-time", "unknown-key"],
)
def test_a_bad_line_stores_nothing_and_names_line_and_field(capsys, db, tmp_path, line, where):
    path = jsonl(tmp_path / "decisions.jsonl", pair("101", "102"), line, pair("401", "402"))

    code, out, err = cli(capsys, "feedback", path, "--db", db, "--account", "acme")

    assert (code, out) == (2, "")
    assert err.startswith(f"crm-dedup: error: {path}, {where}"), err
    with Store(db) as store:
        assert store.decisions("acme") == []
    assert groups_of(capsys, db) == {PETROV: {"101", "102", "103"}, ORLOV: {"401", "402"}}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["feedback", "missing.jsonl"], "missing.jsonl: cannot read file"),
        (["feedback", "empty.jsonl"], "empty.jsonl: the file holds no decisions"),
        (["feedback", "empty.jsonl", "--out", "x.jsonl"], "--entity and --out belong to `crm-dedup feedback export`"),
        (["feedback", "export", "--out", "no/such/dir/x.jsonl"], "directory"),
    ],
    ids=["missing-file", "empty-file", "export-option-on-import", "unwritable-out"],
)
def test_feedback_refuses_bad_arguments(capsys, tmp_path, argv, message):
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")

    code, out, err = cli(capsys, *argv, "--db", tmp_path / "s.duckdb", "--account", "acme")

    assert (code, out) == (2, "")
    assert message in err, err


def test_export_writes_the_log_oldest_first_and_reads_back(capsys, db, tmp_path):
    decisions = [pair("101", "103", reviewer="anna", at="2026-11-24T10:00:00Z"),
                 {**pair("5120002", "5120001", "duplicate", at="2026-11-24T10:05:00+03:00"), "entity": "company"},
                 pair("101", "103", "undo", at="2026-11-24T10:10:00.250000Z", group_id=PETROV)]
    assert cli(capsys, "feedback", jsonl(tmp_path / "in.jsonl", *decisions), "--db", db, "--account", "acme")[0] == 0

    code, out, _ = cli(capsys, "feedback", "export", "--db", db, "--account", "acme")
    contacts = cli(capsys, "feedback", "export", "--db", db, "--account", "acme", "--entity", "contact")[1]
    assert cli(capsys, "feedback", "export", "--db", db, "--account", "acme", "--out", tmp_path / "out.jsonl")[0] == 0

    expected = [
        {"entity": "contact", "left_id": "101", "right_id": "103", "decision": "not_duplicate", "reviewer": "anna",
         "at": "2026-11-24T10:00:00Z"},
        # ids in order; times in UTC
        {"entity": "company", "left_id": "5120001", "right_id": "5120002", "decision": "duplicate", "reviewer": None,
         "at": "2026-11-24T07:05:00Z"},
        {"entity": "contact", "left_id": "101", "right_id": "103", "decision": "undo", "reviewer": None,
         "at": "2026-11-24T10:10:00.250000Z", "group_id": PETROV},
    ]
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == expected
    assert [json.loads(line) for line in contacts.splitlines()] == [expected[0], expected[2]]
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == out
    # the export is a decisions file: another account reads it back to the same log
    assert cli(capsys, "feedback", tmp_path / "out.jsonl", "--db", db, "--account", "globex")[0] == 0
    assert cli(capsys, "feedback", "export", "--db", db, "--account", "globex")[1] == out
