"""The crm-dedup console script: dedupe, import, scan and groups on real files; exit codes and messages."""

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from api.cli import GROUPS_CSV_COLUMNS
from resolver.entities import CONTACT, ExtraField
from resolver.store import open_store
from tests.api.conftest import cli, write_csv
from training.synthetic import generate_contacts, write_set

# the commands that use a store run on a DuckDB file and on PostgreSQL
pytestmark = [pytest.mark.both_stores, pytest.mark.usefixtures("cli_env")]

FIXTURES = Path(__file__).parents[1] / "resolver" / "ingest" / "fixtures"
GROUPS_HEADER = "group_id,record_id,group_score,is_survivor,needs_review"

# A contacts file with its own headers, as a CRM other than amoCRM exports it. Groups:
#   {1, 2, 3}: one person in two name orders and phone spellings, plus the call record made for that phone;
#              2 survives: the most recently updated;
#   {5, 6}:    one name and one email in two cases; 5 survives: the lowest id (no dates);
#   4 (a namesake with another phone), 7 and 8 (junk names, no phone or email) stay alone.
PEOPLE = [
    ["Код", "Клиент", "Тел", "Почта", "Дата рождения", "Изменён"],
    ["1", "Петров Иван", "+7 916 123-45-67", "", "01.02.1990", "01.03.2024 10:00"],
    ["2", "Иван Петров", "8 916 123 45 67", "", "1990-02-01", "02.03.2024 10:00"],
    ["3", "Новый контакт по звонку с +79161234567 из UIS", "", "", "", ""],
    ["4", "Иван Петров", "+7 903 000-11-22", "", "05.06.1971", ""],
    ["5", "Сергей Орлов", "", "s.orlov@yandex.ru", "", ""],
    ["6", "Орлов Сергей Петрович", "+7 903 555-11-22", "S.Orlov@Yandex.ru", "", ""],
    ["7", "-", "", "", "", ""],
    ["8", "нет", "", "", "", ""],
]
PEOPLE_GROUPS = {frozenset({"1", "2", "3"}), frozenset({"5", "6"})}
PEOPLE_SURVIVORS = {"2", "5"}
MAP = ["--map", "id=Код", "name=Клиент", "phone=Тел", "email=Почта", "updated_at=Изменён"]



@pytest.fixture
def people_csv(tmp_path):
    return write_csv(tmp_path / "people.csv", PEOPLE, delimiter=";")


def parse_groups(text):
    """(rows, set of member sets) of a groups CSV."""
    rows = list(csv.DictReader(io.StringIO(text)))
    members: dict[str, set[str]] = {}
    for row in rows:
        members.setdefault(row["group_id"], set()).add(row["record_id"])
    return rows, {frozenset(m) for m in members.values()}


def survivors(rows):
    return {r["record_id"] for r in rows if r["is_survivor"] == "1"}


@pytest.fixture
def db(tmp_path, database_url):
    """The store the CLI is pointed at with --db: a DuckDB file, or the test's PostgreSQL database URL."""
    return database_url or tmp_path / "crm.duckdb"


def live_records(db, account="acme"):
    with open_store(db) as store:
        return store.count_records(account, "contact")


# --- dedupe ---------------------------------------------------------------------------------------

def test_dedupe_amocrm_page(capsys, tmp_path):
    page = shutil.copy(FIXTURES / "contacts_page.json", tmp_path / "contacts.json")
    code, out, err = cli(capsys, "dedupe", page, "--entity", "contact")

    assert code == 0, err
    assert out.splitlines()[0] == ",".join(GROUPS_CSV_COLUMNS)
    rows, groups = parse_groups(out)
    # Петров Иван and the telephony record for his phone; "-" stays alone. 3180001 has an open deal.
    assert groups == {frozenset({"3180001", "3180002"})}
    assert survivors(rows) == {"3180001"}
    assert "contacts: 3 records" in err


@pytest.mark.parametrize("out_name", [None, "groups.csv"], ids=["stdout", "out-file"])
def test_dedupe_csv_with_map(capsys, tmp_path, people_csv, out_name):
    args = ["--out", tmp_path / out_name] if out_name else []
    code, out, err = cli(capsys, "dedupe", people_csv, "--entity", "contact", *MAP, *args)

    assert code == 0, err
    if out_name:
        assert out == ""  # data goes to the file only
        assert f"groups written to {tmp_path / out_name}" in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["groups.csv", "people.csv"]  # no .part left
        out = (tmp_path / out_name).read_text(encoding="utf-8")
    assert out.startswith(GROUPS_HEADER + ",")
    rows, groups = parse_groups(out)
    assert groups == PEOPLE_GROUPS
    assert survivors(rows) == PEOPLE_SURVIVORS
    assert "contacts: 8 records" in err


def test_dedupe_out_that_cannot_be_written_says_so_in_one_line(capsys, people_csv):
    code, out, err = cli(capsys, "dedupe", people_csv, "--entity", "contact", *MAP, "--out", "people.csv/groups.csv")
    assert (code, out) == (2, "")
    assert err.startswith("crm-dedup: error:") and "people.csv/groups.csv" in err and "Traceback" not in err


@pytest.mark.parametrize("threshold", ["1.5", "-0.1", "1", "nan"], ids=["above-1", "negative", "one", "nan"])
def test_threshold_outside_0_1_is_refused(capsys, people_csv, threshold):
    code, out, err = cli(capsys, "dedupe", people_csv, "--entity", "contact", *MAP, "--threshold", threshold)
    assert (code, out) == (2, "")
    assert "--threshold" in err


# --- import, scan, groups -------------------------------------------------------------------------

def test_import_scan_groups_give_what_dedupe_gives(capsys, tmp_path, db, people_csv):
    _, alone, _ = cli(capsys, "dedupe", people_csv, "--entity", "contact", *MAP)

    code, out, err = cli(capsys, "import", people_csv, "--entity", "contact", "--account", "acme", "--db", db, *MAP)
    assert (code, out) == (0, "")
    assert f"imported 8 contact records into account acme (8 live contacts) in {db}" in err
    code, out, err = cli(capsys, "scan", "--account", "acme", "--db", db)  # both entities; no companies: skipped
    assert (code, out) == (0, ""), err
    assert "contacts: 8 records" in err and "companies" not in err
    code, out, err = cli(capsys, "groups", "--account", "acme", "--entity", "contact", "--db", db)

    assert code == 0, err
    # same records, same model: same groups, scores and (member-derived) group ids
    assert out == alone
    assert parse_groups(out)[1] == PEOPLE_GROUPS


def test_scan_incremental_scores_what_changed_and_equals_a_full_scan(capsys, tmp_path, db, people_csv):
    cli(capsys, "import", people_csv, "--entity", "contact", "--account", "acme", "--db", db, *MAP)
    code, out, err = cli(capsys, "scan", "--account", "acme", "--entity", "contact", "--incremental", "--db", db)
    assert (code, out) == (0, ""), err
    assert "full scan: no earlier scan to build on" in err

    # the namesake 4 gets the phone of 1 and 2 (a later edit): it joins their group
    changed = write_csv(tmp_path / "changed.csv", [PEOPLE[0], ["4", "Иван Петров", "+7 916 123-45-67", "", "",
                                                               "05.03.2024 10:00"]], delimiter=";")
    cli(capsys, "import", changed, "--entity", "contact", "--account", "acme", "--db", db, *MAP)
    code, out, err = cli(capsys, "scan", "--account", "acme", "--entity", "contact", "--incremental", "--db", db)
    assert (code, out) == (0, ""), err
    assert "incremental: 1 records changed since the last scan" in err
    _, incremental, _ = cli(capsys, "groups", "--account", "acme", "--entity", "contact", "--db", db)
    assert frozenset({"1", "2", "3", "4"}) in parse_groups(incremental)[1]

    cli(capsys, "scan", "--account", "acme", "--entity", "contact", "--db", db)
    _, full, _ = cli(capsys, "groups", "--account", "acme", "--entity", "contact", "--db", db)
    assert incremental == full


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        (["20", "Козлова Наталья", "", "", "", "31.02.2024"],
         "people.csv, line 3, column Изменён: cannot read date '31.02.2024'"),
        # an id repeated: the second is a different record or a pasted row; either way, ask
        (["10", "Козлова Наталья", "", "", "", ""],
         "people.csv, line 3, column Код: duplicate id '10', first on line 2"),
    ],
    ids=["bad-date", "duplicate-id"],
)
def test_import_of_a_bad_file_writes_nothing(capsys, tmp_path, db, bad_row, message):
    rows = [PEOPLE[0], ["10", "Волкова Юлия", "+7 926 111-22-33", "", "", "01.03.2024"], bad_row,
            ["30", "Лебедева Татьяна", "+7 926 444-55-66", "", "", ""]]
    path = write_csv(tmp_path / "people.csv", rows, delimiter=";")

    code, out, err = cli(capsys, "import", path, "--entity", "contact", "--account", "acme", "--db", db, *MAP)

    assert (code, out) == (2, "")
    assert err.splitlines()[0].startswith(f"crm-dedup: error: {message}")
    assert live_records(db) == 0  # the good lines 2 and 4 were not written either


@pytest.mark.parametrize(
    ("command", "name", "message"),
    [
        ("dedupe", "people.docx", "people.docx: unsupported file type .docx; expected .json, .jsonl, .csv or .xlsx"),
        ("import", "people.pdf", "people.pdf: unsupported file type .pdf; expected .json, .jsonl, .csv or .xlsx"),
        ("dedupe", "people", "people: unsupported file type (no extension); expected .json, .jsonl, .csv or .xlsx"),
    ],
    ids=["dedupe-docx", "import-pdf", "no-extension"],
)
def test_unknown_file_type_exits_2(capsys, tmp_path, command, name, message):
    (tmp_path / name).write_text("Клиент;Тел\nПетров Иван;+79161234567\n", encoding="utf-8")
    extra = ["--account", "acme", "--db", tmp_path / "crm.duckdb"] if command == "import" else []
    code, out, err = cli(capsys, command, tmp_path / name, "--entity", "contact", *extra)
    assert (code, out, err) == (2, "", f"crm-dedup: error: {message}\n")


NO_SCAN = "account 'acme' has no contact scan in {db}; run `crm-dedup scan` first"


@pytest.mark.parametrize(
    ("imported", "argv", "message"),
    [
        (False, ["groups", "--entity", "contact"], NO_SCAN),
        (True, ["groups", "--entity", "contact"], NO_SCAN),
        (True, ["scan", "--entity", "company"],
         "account 'acme' has no company records in {db}; run `crm-dedup import` first"),
    ],
    ids=["groups-on-empty-store", "groups-before-scan", "scan-before-import"],
)
def test_a_step_run_too_early_says_which_to_run(capsys, tmp_path, db, people_csv, imported, argv, message):
    if imported:
        assert cli(capsys, "import", people_csv, "--entity", "contact", "--account", "acme", "--db", db, *MAP)[0] == 0
    code, out, err = cli(capsys, *argv, "--account", "acme", "--db", db)
    assert (code, out) == (2, "")
    assert err == f"crm-dedup: error: {message.format(db=db)}\n"


# --- extra fields and configuration ---------------------------------------------------------------

def test_extra_fields_are_kept_per_account_and_used_by_scan(capsys, tmp_path, db, people_csv):
    code, _, err = cli(capsys, "import", people_csv, "--entity", "contact", "--account", "acme", "--db", db, *MAP,
                       "--field", "birthday:date:Дата рождения")
    assert code == 0, err

    birthday = ExtraField("birthday", "date", "Дата рождения")
    with open_store(db) as store:
        assert store.extra_fields("acme", "contact") == [birthday]
        table = store.scan_input("acme", CONTACT, [birthday])
    got = dict(zip(table.column("unique_id").to_pylist(), table.column("x_birthday").to_pylist(), strict=True))
    # two spellings of one date become one value; empty cells stay unknown
    assert got == {"1": "1990-02-01", "2": "1990-02-01", "3": None, "4": "1971-06-05", "5": None, "6": None,
                   "7": None, "8": None}

    code, out, err = cli(capsys, "scan", "--account", "acme", "--entity", "contact", "--db", db)
    assert (code, out) == (0, ""), err
    assert "+fitted:birthday" in err  # the shipped model knows no birthday: one is fitted on the account's data
    code, out, err = cli(capsys, "groups", "--account", "acme", "--entity", "contact", "--db", db)
    rows, groups = parse_groups(out)
    assert code == 0 and out.startswith(GROUPS_HEADER)
    assert all(len(survivors([r for r in rows if r["record_id"] in g])) == 1 for g in groups)


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("birthday", "extra field 'birthday': expected NAME:KIND[:SOURCE] or HEADER=KIND with KIND one of text, date, "
                     "identifier, address"),
        ("Birthday:date", "extra field name 'Birthday': use lowercase latin letters, digits and _"),
    ],
    ids=["no-kind", "uppercase-name"],
)
def test_bad_extra_field_exits_2(capsys, people_csv, field, reason):
    code, out, err = cli(capsys, "dedupe", people_csv, "--entity", "contact", *MAP, "--field", field)
    assert (code, out, err) == (2, "", f"crm-dedup: error: field --field: {reason}\n")


@pytest.mark.parametrize(
    ("env_db", "flag_db", "written"),
    [
        ("env.duckdb", None, "env.duckdb"),
        ("env.duckdb", "flag.duckdb", "flag.duckdb"),  # --db wins over the environment
        (None, None, "var/crm-dedup.duckdb"),  # the default, relative to the working directory
    ],
    ids=["env", "flag-over-env", "default"],
)
def test_store_path_from_flag_env_or_default(capsys, monkeypatch, tmp_path, people_csv, env_db, flag_db, written):
    if env_db:
        monkeypatch.setenv("CRM_DEDUP_DB", str(tmp_path / env_db))
    flag = ["--db", tmp_path / flag_db] if flag_db else []
    code, _, err = cli(capsys, "import", people_csv, "--entity", "contact", "--account", "acme", *MAP, *flag)

    assert code == 0, err
    stores = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.duckdb")}
    assert stores == {written}
    assert live_records(tmp_path / written) == 8


# --- end to end -----------------------------------------------------------------------------------

def test_dedupe_of_two_thousand_generated_contacts(capsys, tmp_path):
    generated = generate_contacts(2000, seed=5)
    page, _ = write_set(generated, tmp_path / "set")
    out_path = tmp_path / "groups.csv"

    code, _, err = cli(capsys, "dedupe", page, "--entity", "contact", "--out", out_path)

    assert code == 0, err
    rows, groups = parse_groups(out_path.read_text(encoding="utf-8"))
    assert len(groups) >= 50, err
    assert {r["record_id"] for r in rows} <= set(generated.truth)
    assert sum(len(g) for g in groups) == len(rows)  # a record is in one group at most
    by_group: dict[str, list[dict]] = {}
    for r in rows:
        by_group.setdefault(r["group_id"], []).append(r)
    assert all(len(survivors(members)) == 1 for members in by_group.values())
    # the generator knows who is who: nearly every group is one person
    pure = [g for g in groups if len({generated.truth[rid] for rid in g}) == 1]
    assert len(pure) >= 0.9 * len(groups), f"{len(pure)} of {len(groups)} groups are one person"


def test_console_script_runs_as_a_process(tmp_path, people_csv):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_DEDUP_")}
    proc = subprocess.run(
        [sys.executable, "-m", "api.cli", "dedupe", people_csv.name, "--entity", "contact", *MAP, "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, encoding="utf-8", timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # stdout carries the CSV and nothing else; the summary goes to stderr
    assert proc.stdout.startswith(GROUPS_HEADER + ",")
    assert parse_groups(proc.stdout)[1] == PEOPLE_GROUPS
    assert "contacts: 8 records" in proc.stderr
    assert not (tmp_path / "var").exists()  # dedupe needs no store
