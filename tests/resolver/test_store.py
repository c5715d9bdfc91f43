"""The DuckDB store on a real file: idempotent upsert, update order, account scoping, all-or-nothing writes."""

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from resolver.entities import COMPANY, CONTACT, ExtraField
from resolver.errors import StoreError
from resolver.records import Group, Record
from resolver.store import Store


def day(n: int) -> datetime:
    return datetime(2024, 5, n, 12, 0, tzinfo=UTC)


def contact(record_id, name="Петров Иван", *, phones=("+7 916 123-45-67",), emails=(), updated=None, **kw):
    return Record("contact", record_id, name=name, phones=tuple(phones), emails=tuple(emails), updated_at=updated,
                  **kw)


def stored(store, ids, account="acme", entity="contact"):
    """record_id -> (name, phones) as the store holds them."""
    details = store.record_details(account, entity, ids)
    return {rid: (d["name"], d["phones"]) for rid, d in details.items()}


def live_ids(store, account="acme", spec=CONTACT):
    return store.scan_input(account, spec).column("unique_id").to_pylist()


# --- upsert ---------------------------------------------------------------------------------------

def test_upsert_is_idempotent_by_account_entity_and_record_id(store):
    batch = [contact("1", "Петров Иван", updated=day(1)), contact("2", "Сидорова Анна", phones=["8 903 111 22 33"])]
    assert store.upsert_records("acme", CONTACT, batch) == 2
    assert store.upsert_records("acme", CONTACT, batch) == 2

    assert store.count_records("acme", "contact") == 2
    assert live_ids(store) == ["1", "2"]
    assert stored(store, ["1", "2"]) == {
        "1": ("Петров Иван", ["+79161234567"]),
        "2": ("Сидорова Анна", ["+79031112233"]),
    }


# Two versions of record 7: renamed and with a new phone, so the normalized columns must follow the name
WRITTEN = {"old": ("Петров Иван", "+7 916 123-45-67"), "new": ("Петров Иван Сергеевич", "8 903 555 11 22")}
STORED = {"old": ("Петров Иван", ["+79161234567"]), "new": ("Петров Иван Сергеевич", ["+79035551122"])}


@pytest.mark.parametrize(
    ("stored_at", "incoming_at", "winner"),
    [
        (day(1), day(2), "new"),
        # an equal updated_at is a re-send of the same version (or a fix of it): it replaces
        (day(2), day(2), "new"),
        # a page fetched before the last edit arrives late: it must not roll the record back
        (day(2), day(1), "old"),
        # resolver/store/sql/upsert_records.sql: NULL is "unknown"; a known time beats an unknown stored one
        (None, day(1), "new"),
        # ... but an unknown incoming time never overwrites a known stored one
        (day(1), None, "old"),
        # both unknown: nothing to compare, the latest write wins
        (None, None, "new"),
    ],
    ids=["newer-wins", "equal-wins", "older-never-overwrites-newer", "known-replaces-unknown",
         "unknown-never-overwrites-known", "both-unknown-latest-wins"],
)
def test_update_order(store, stored_at, incoming_at, winner):
    for version, at in (("old", stored_at), ("new", incoming_at)):
        name, phone = WRITTEN[version]
        store.upsert_records("acme", CONTACT, [contact("7", name, phones=[phone], updated=at)])

    assert stored(store, ["7"]) == {"7": STORED[winner]}
    assert store.count_records("acme", "contact") == 1


@pytest.mark.parametrize(
    ("deleted_at", "live"),
    [
        (day(3), []),  # deleted in the CRM after the stored version: gone from counts and scans
        (day(1), ["1"]),  # a stale "deleted" older than the stored version changes nothing
    ],
    ids=["newer-delete-hides", "older-delete-ignored"],
)
def test_deleted_records_leave_the_live_base(store, deleted_at, live):
    store.upsert_records("acme", CONTACT, [contact("1", updated=day(2))])
    store.upsert_records("acme", CONTACT, [contact("1", updated=deleted_at, deleted=True)])
    assert live_ids(store) == live
    assert store.count_records("acme", "contact") == len(live)


def test_stale_record_in_a_batch_does_not_stop_the_others(store):
    store.upsert_records("acme", CONTACT, [contact("1", "Петров Иван", updated=day(5))])
    # record 1 arrives stale, record 2 is new: 1 keeps its stored version, 2 is written
    store.upsert_records("acme", CONTACT, [contact("1", "Петров И.", updated=day(3)),
                                           contact("2", "Сидорова Анна", phones=[], updated=day(3))])
    assert stored(store, ["1", "2"]) == {"1": ("Петров Иван", ["+79161234567"]), "2": ("Сидорова Анна", None)}


def test_one_record_twice_in_a_batch_is_stored_once(store):
    # an API batch or two JSONL lines can carry two versions of one record; the newer must win
    store.upsert_records("acme", CONTACT, [contact("1", "Петров Иван Сергеевич", updated=day(2)),
                                           contact("1", "Петров Иван", updated=day(1))])
    assert store.count_records("acme", "contact") == 1
    assert stored(store, ["1"]) == {"1": ("Петров Иван Сергеевич", ["+79161234567"])}


def test_failed_upsert_writes_nothing(tmp_path):
    path = tmp_path / "store.duckdb"
    with Store(path) as store:
        store.upsert_records("acme", CONTACT, [contact("1", "Петров Иван", updated=day(1)),
                                               contact("2", "Сидорова Анна", phones=["8 903 111 22 33"])])
        # The batch updates 1, adds 3, and carries 4 with deleted=NULL, which the schema refuses
        # (NOT NULL): the failure comes from the INSERT, after the DELETE of 1's old version ran.
        bad = [contact("1", "Петров Иван Сергеевич", updated=day(9)), contact("3", "Орлов Сергей"),
               contact("4", "Козлова Наталья", deleted=None)]
        with pytest.raises(StoreError, match="nothing was written"):
            store.upsert_records("acme", CONTACT, bad)

        expected = {"1": ("Петров Иван", ["+79161234567"]), "2": ("Сидорова Анна", ["+79031112233"])}
        assert stored(store, ["1", "2", "3", "4"]) == expected
        # the connection is still usable after the rollback
        store.upsert_records("acme", CONTACT, [contact("5", "Волкова Юлия", phones=[])])
    with Store(path) as reopened:
        assert stored(reopened, ["1", "2", "3", "4", "5"]) == {**expected, "5": ("Волкова Юлия", None)}


# --- scoping --------------------------------------------------------------------------------------

def _save_one_group(store, account, members):
    plan = {"survivor_id": members[0], "merge_ids": members[1:]}
    store.save_scan(
        account_id=account, entity="contact",
        scan={"scan_id": "s1", "started_at": day(1), "finished_at": day(1), "model_version": "test",
              "review_threshold": 0.5, "auto_merge_threshold": 0.9, "n_records": len(members)},
        pairs=pa.table({"left_id": [members[0]], "right_id": [members[1]], "match_weight": [20.0],
                        "match_probability": [0.999], "contributions": ["[]"]}),
        groups=[Group(entity="contact", group_id="ct-a", record_ids=tuple(members), group_score=0.999,
                      needs_review=False, survivor_id=members[0], merge_plan=plan)],
    )


def test_accounts_never_see_each_other(store):
    # Both accounts have records "1" and "2"; account A also has an office line on 4 records,
    # which in account B appears once: B's frequency counts must not see A's records.
    office = "+7 495 765-43-21"
    staff = ["Анна Смирнова", "Олег Котов", "Ирина Лебедева", "Павел Орлов"]
    store.upsert_records("a", CONTACT, [contact(str(i), staff[i - 1], phones=[office]) for i in range(1, 5)])
    store.upsert_records("b", CONTACT, [contact("1", "Петров Иван", phones=[office]),
                                        contact("2", "Иван Петров", phones=[office])])
    store.set_extra_fields("a", "contact", [ExtraField("birthday", "date", "Дата рождения")])
    _save_one_group(store, "a", ["1", "2"])

    b = store.scan_input("b", CONTACT).select(["unique_id", "name_norm", "phones_rare"]).to_pylist()
    assert b == [
        {"unique_id": "1", "name_norm": "ivan petrov", "phones_rare": ["+74957654321"]},
        {"unique_id": "2", "name_norm": "ivan petrov", "phones_rare": ["+74957654321"]},
    ]
    a = store.scan_input("a", CONTACT).select(["unique_id", "phones_rare"]).to_pylist()
    assert a == [{"unique_id": str(i), "phones_rare": None} for i in range(1, 5)]  # 4 names: not rare
    assert store.groups_export("b", "contact") == []
    assert store.group_membership("b", "contact") == {}
    assert store.last_scan("b", "contact") is None
    assert store.extra_fields("b", "contact") == []
    assert store.record_details("b", "contact", ["3", "4"]) == {}
    assert store.count_records("b", "contact") == 2
    assert [(r["group_id"], r["record_id"]) for r in store.groups_export("a", "contact")] == [
        ("ct-a", "1"), ("ct-a", "2")]


def test_entities_never_see_each_other(store):
    store.upsert_records("acme", CONTACT, [contact("1", "Петров Иван")])
    store.upsert_records("acme", COMPANY, [Record("company", "1", name="ООО «Ромашка»", inn="7707083893")])
    assert store.scan_input("acme", CONTACT).select(["unique_id", "name_norm"]).to_pylist() == [
        {"unique_id": "1", "name_norm": "ivan petrov"}]
    assert store.scan_input("acme", COMPANY).select(["unique_id", "name_core", "inn"]).to_pylist() == [
        {"unique_id": "1", "name_core": "romashka", "inn": "7707083893"}]


# --- scan input -----------------------------------------------------------------------------------

def _values(kind):
    # values carried by 1, 3, 4 and 11 records; written differently on odd records, because
    # records are counted by the normalized value
    if kind == "phones":
        return {n: (f"+7916000{n:04d}", f"8 (916) 000-{n // 100:02d}-{n % 100:02d}") for n in (1, 3, 4, 11)}
    return {n: (f"v{n:02d}@romashka.ru", f"V{n:02d}@Romashka.RU ") for n in (1, 3, 4, 11)}


# values are counted by the different names that carry them, so every record has its own name
_DISTINCT_NAMES = ["Анна Смирнова", "Олег Котов", "Ирина Лебедева", "Павел Орлов", "Мария Зайцева", "Глеб Волков",
                   "Юлия Соколова", "Денис Морозов", "Вера Павлова", "Роман Егоров", "Нина Козлова", "Тимур Баев"]


def _normal(kind, n):
    return f"+7916000{n:04d}" if kind == "phones" else f"v{n:02d}@romashka.ru"


@pytest.mark.parametrize("spec", [CONTACT, COMPANY], ids=["contact", "company"])
@pytest.mark.parametrize("kind", ["phones", "emails"])
def test_frequency_columns_count_values_over_the_base(store, spec, kind):
    values = _values(kind)
    # record i carries every value held by more than i records; r11 carries none
    records = []
    for i in range(12):
        mine = tuple(values[n][i % 2] for n in values if i < n)
        fields = {"phones": mine} if kind == "phones" else {"emails": mine}
        records.append(Record(spec.entity, f"r{i:02d}", name=_DISTINCT_NAMES[i], **fields))
    store.upsert_records("acme", spec, records)

    got = {row["unique_id"]: (row[f"{kind}_rare"], row[f"{kind}_few"])
           for row in store.scan_input("acme", spec).to_pylist()}

    v = {n: _normal(kind, n) for n in values}
    # rare: at most RARE_MAX (3) names carry it; few: at most FEW_MAX (10); 11 names: neither
    assert got == {
        "r00": ([v[1], v[3]], [v[1], v[3], v[4]]),
        "r01": ([v[3]], [v[3], v[4]]),
        "r02": ([v[3]], [v[3], v[4]]),
        "r03": (None, [v[4]]),
        **{f"r{i:02d}": (None, None) for i in range(4, 11)},
        "r11": (None, None),  # no value at all
    }


def test_extra_fields_are_kept_raw_and_normalized_at_read(store):
    store.upsert_records("acme", CONTACT, [
        contact("1", extra={"birthday": "01.02.1990", "passport": "45 06 123456", "address": "ул. Ленина, д. 5"}),
        contact("2", extra={"birthday": "1990-02-01", "passport": "000000", "address": "-"}),  # placeholders
        contact("3"),  # no extra values at all
    ])
    extras = [ExtraField("birthday", "date", "Дата рождения"), ExtraField("passport", "identifier", "Паспорт"),
              ExtraField("address", "text", "Адрес")]
    table = store.scan_input("acme", CONTACT, extras)
    got = table.select(["unique_id", "x_birthday", "x_passport", "x_address"]).to_pylist()
    assert got == [
        {"unique_id": "1", "x_birthday": "1990-02-01", "x_passport": "4506123456", "x_address": "ul lenina d 5"},
        {"unique_id": "2", "x_birthday": "1990-02-01", "x_passport": None, "x_address": None},
        {"unique_id": "3", "x_birthday": None, "x_passport": None, "x_address": None},
    ]
    # the raw value stays stored, so a field can change kind without a re-import
    as_text = store.scan_input("acme", CONTACT, [ExtraField("birthday", "text", "Дата рождения")])
    assert as_text.column("x_birthday").to_pylist() == ["01 02 1990", "1990 02 01", None]


def test_extra_field_config_is_replaced_per_account_and_entity(store):
    birthday = ExtraField("birthday", "date", "Дата рождения")
    passport = ExtraField("passport", "identifier", "Паспорт")
    store.set_extra_fields("acme", "contact", [passport, birthday])
    store.set_extra_fields("acme", "company", [ExtraField("okpo", "identifier", "ОКПО")])
    assert store.extra_fields("acme", "contact") == [birthday, passport]  # by name
    store.set_extra_fields("acme", "contact", [passport])
    assert store.extra_fields("acme", "contact") == [passport]
    assert store.extra_fields("acme", "company") == [ExtraField("okpo", "identifier", "ОКПО")]


def test_ingested_at_grows_in_commit_order_even_when_the_clock_steps_back(store, monkeypatch):
    # the check's index reads rows stamped after the newest it saw: a later write must never stamp earlier
    import resolver.store.duckdb_store as store_module
    from resolver.candidates import Checker
    from resolver.linkage import load_model

    checker = Checker(store, {"contact": load_model("contact")})
    store.upsert_records("acme", CONTACT, [contact("1", "Петров Иван", phones=["+7 916 123-45-67"])])
    assert checker.duplicates_of("acme", "contact", "1") == []

    class SteppedBack(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2001, 1, 1, tzinfo=UTC)  # NTP stepped the clock back by years

    monkeypatch.setattr(store_module, "datetime", SteppedBack)
    store.upsert_records("acme", CONTACT, [contact("2", "Иван Петров", phones=["8 916 123 45 67"])])
    store.mark_deleted("acme", "contact", "1")
    store.upsert_records("acme", CONTACT, [contact("3", "Петров Иван", phones=["+79161234567"])])
    stamps = [r[0] for r in store._execute(
        "SELECT ingested_at FROM records WHERE account_id = 'acme' ORDER BY record_id").fetchall()]
    assert stamps[1] < stamps[0] < stamps[2]  # 2, then 1 deleted, then 3: each after the one before
    assert [m.record_id for m in checker.duplicates_of("acme", "contact", "2")] == ["3"]  # 1 left, 3 seen
