"""The whole-base scan with the shipped default models: which records group, stable ids, cannot-links, survivors."""

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from resolver.linkage import prior_weight
from resolver.records import Record
from resolver.scan import ingest, scan
from resolver.store import Store


def person(record_id, name, phones=(), emails=(), **kw):
    return Record("contact", record_id, name=name, phones=tuple(phones), emails=tuple(emails), **kw)


def firm(record_id, name, inn=None, **kw):
    return Record("company", record_id, name=name, inn=inn, **kw)


# A small base; the groups that must come out, and why:
#   {101, 102, 103}: one person as "Петров Иван" / "Иван Петров" with one phone in two spellings, and
#                    the contact telephony made for a call from that phone (its name is no name);
#   {401, 402}:      the same name (the patronymic set apart) and one email in two cases;
#   104 stays alone: a namesake of Иван Петров with another phone;
#   301-303 stay alone: "-" / "нет" are no names, and they have no phone or email to link on.
PEOPLE = [
    person("101", "Петров Иван", ["+7 916 123-45-67"]),
    person("102", "Иван Петров", ["8 916 123 45 67"]),
    person("103", "Новый контакт по звонку с +79161234567 из UIS"),
    person("104", "Иван Петров", ["+7 903 000-11-22"]),
    person("301", "-"),
    person("302", "-"),
    person("303", "нет"),
    person("401", "Сергей Орлов", emails=["s.orlov@yandex.ru"]),
    person("402", "Орлов Сергей Петрович", ["+7 903 555-11-22"], ["S.Orlov@Yandex.ru"]),
]
PEOPLE_GROUPS = {frozenset({"101", "102", "103"}), frozenset({"401", "402"})}


def run(store, model, records, *, account="acme", **kw):
    if records:
        ingest(store, account_id=account, entity=model.entity, records=records)
    return scan(store, account_id=account, model=model, **kw)


def groups(store, entity="contact", account="acme"):
    """group_id -> members of the last scan."""
    out: dict[str, set[str]] = {}
    for row in store.groups_export(account, entity):
        out.setdefault(row["group_id"], set()).add(row["record_id"])
    return {gid: frozenset(members) for gid, members in out.items()}


def stored_rows(store, sql, params):
    # the store has no public reader for pairs and merge plans yet; values go as parameters
    cur = store._execute(sql, params, step="test")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_scan_groups_the_duplicates_and_nothing_else(store, default_models):
    calls = []
    result = run(store, default_models["contact"], PEOPLE, progress=lambda done, total: calls.append((done, total)))

    assert set(groups(store).values()) == PEOPLE_GROUPS
    assert (result.n_records, result.n_groups, result.n_grouped_records) == (9, 2, 5)
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert store.last_scan("acme", "contact")["n_groups"] == 2


def _teachers(n):
    names = ["Анна Смирнова", "Ольга Кузнецова", "Мария Соколова", "Елена Попова", "Татьяна Лебедева",
             "Наталья Козлова", "Ирина Новикова", "Светлана Морозова", "Юлия Волкова", "Галина Алексеева",
             "Вера Павлова"]
    return [person(str(200 + i), name, emails=["school5@edu.ru"]) for i, name in enumerate(names[:n])]


@pytest.mark.parametrize(
    ("n_teachers", "others"),
    [
        # ten records hold the email: the "at most 10 records have" level, which weighs little
        (10, PEOPLE),
        # one more and it falls to the "many names have" level
        (11, PEOPLE),
        # a file of the school's staff alone
        (10, []),
    ],
    ids=["ten-teachers-in-a-small-base", "eleven-teachers-in-a-small-base", "ten-teachers-alone"],
)
def test_teachers_sharing_a_school_email_are_not_grouped(store, default_models, n_teachers, others):
    # README: "ten teachers of one school sharing one email, who are ten people, not one"
    run(store, default_models["contact"], others + _teachers(n_teachers))
    assert set(groups(store).values()) == (PEOPLE_GROUPS if others else set())


@pytest.mark.parametrize(
    ("cannot_link", "expected"),
    [
        ([], {"101", "102", "103"}),
        # 103 (a call record, no name) links 101 and 102 equally well; the tie goes by id, so 101-103
        # joins first and 102 cannot follow: a third record never pulls a separated pair together
        ([("102", "101")], {"101", "103"}),
        # the call record split off from both: the two named records stay together
        ([("101", "103"), ("103", "102")], {"101", "102"}),
        ([("101", "102"), ("101", "103"), ("102", "103")], None),
    ],
    ids=["no-decisions", "separated-pair-third-record-joins-one", "third-record-split-off", "all-separated"],
)
def test_cannot_link_pairs_never_share_a_group(store, default_models, cannot_link, expected):
    run(store, default_models["contact"], PEOPLE, cannot_link=cannot_link)
    petrov = {g for g in groups(store).values() if g & {"101", "102", "103"}}
    assert petrov == ({frozenset(expected)} if expected else set())
    assert frozenset({"401", "402"}) in groups(store).values()


def test_group_ids_are_stable_across_rescans(store, default_models):
    model = default_models["contact"]
    run(store, model, PEOPLE)
    first = groups(store)

    run(store, model, [])
    assert groups(store) == first  # same members, same ids

    # a new record of Иван Петров joins his group, which keeps its id; the other group is untouched
    run(store, model, [person("105", "Петров Иван Сергеевич", ["+79161234567"], ["ivan.petrov@romashka.ru"])])
    (petrov_id,) = [gid for gid, m in first.items() if "101" in m]
    (orlov_id,) = [gid for gid, m in first.items() if "401" in m]
    assert groups(store) == {petrov_id: frozenset({"101", "102", "103", "105"}), orlov_id: frozenset({"401", "402"})}


def test_a_fresh_store_gives_the_same_group_ids(tmp_path, default_models):
    ids = []
    for name in ("one", "two"):
        with Store(tmp_path / f"{name}.duckdb") as s:
            run(s, default_models["contact"], PEOPLE, account=name)
            ids.append(groups(s, account=name))
    assert ids[0] == ids[1]


def at(day):
    return datetime(2024, 5, day, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "survivor", "reason"),
    [
        ({}, "101", "lowest id"),
        ({"102": {"updated_at": at(3)}, "103": {"updated_at": at(9)}}, "103", "most recently updated"),
        # a deal card in progress outweighs fresher data
        ({"102": {"open_lead_ids": ("7310002",), "lead_ids": ("7310002",), "updated_at": at(1)},
          "103": {"updated_at": at(9)}}, "102", "has an open deal"),
    ],
    ids=["lowest-id", "most-recently-updated", "open-deal-first"],
)
def test_survivor_follows_the_merge_plan_rule(store, default_models, changes, survivor, reason):
    records = [replace(r, **changes.get(r.record_id, {})) for r in PEOPLE]
    run(store, default_models["contact"], records)

    rows = [r for r in store.groups_export("acme", "contact") if r["record_id"] in {"101", "102", "103"}]
    assert {r["record_id"] for r in rows if r["is_survivor"]} == {survivor}
    assert rows[0]["record_id"] == survivor  # the survivor comes first in its group
    (stored,) = [g for g in stored_rows(store, "SELECT survivor_id, merge_plan FROM groups WHERE account_id = ? "
                                               "AND entity = ?", ["acme", "contact"])
                 if g["survivor_id"] in {"101", "102", "103"}]
    plan = json.loads(stored["merge_plan"])
    assert (stored["survivor_id"], plan["survivor_reason"]) == (survivor, reason)
    assert plan["merge_ids"] == sorted({"101", "102", "103"} - {survivor})
    assert plan["keep"]["phones"] == ["+79161234567"]


def test_explanations_name_the_fields_and_add_up(store, default_models):
    model = default_models["contact"]
    run(store, model, PEOPLE)
    pairs = {(p["left_id"], p["right_id"]): p for p in stored_rows(
        store, "SELECT left_id, right_id, match_weight, contributions FROM pairs WHERE account_id = ? "
               "AND entity = ?", ["acme", "contact"])}
    levels = {key: {c["field"]: c["level"] for c in json.loads(p["contributions"])} for key, p in pairs.items()}

    assert {key: set(fields) for key, fields in levels.items()} == {key: set(model.comparison_names) for key in pairs}
    assert {f: levels[("101", "102")][f] for f in ("name", "phone", "email", "company")} == {
        "name": "Exact match on name_norm",
        "phone": "shares a phone at most 3 names have",
        "email": "missing on one side",
        "company": "missing on one side",
    }
    assert levels[("401", "402")]["email"] == "shares a email at most 3 names have"
    assert levels[("101", "103")]["name"] == "missing on one side"  # the auto-name is no name

    # the contributions plus the prior of this base are the pair's match weight (waterfall data)
    prior = prior_weight(replace(model, settings=model.settings_for_base(len(PEOPLE))))
    for key, p in pairs.items():
        total = prior + sum(c["match_weight"] for c in json.loads(p["contributions"]))
        assert total == pytest.approx(p["match_weight"], abs=0.01), key


@pytest.mark.parametrize("records", [[], PEOPLE[:1]], ids=["empty-base", "one-record"])
def test_a_base_too_small_to_pair_scans_to_nothing(store, default_models, records):
    result = run(store, default_models["contact"], records)
    assert (result.n_records, result.n_pairs, result.n_groups) == (len(records), 0, 0)
    assert store.groups_export("acme", "contact") == []
    assert store.last_scan("acme", "contact")["n_records"] == len(records)


# Companies: "ООО «Ромашка»" and "Ромашка, ООО" with one INN are one company; two "ООО «Вектор»" with
# different valid INNs are two legal entities, whatever the name says; junk names link nothing.
COMPANIES = [
    firm("501", "ООО «Ромашка»", "7707083893"),
    firm("502", "Ромашка, ООО", "7707 083 893"),
    firm("601", "ООО «Вектор»", "7736207543"),
    firm("602", "ООО «Вектор»", "7702070139"),
    firm("701", "-"),
    firm("702", "нет"),
]


def test_company_scan_groups_by_name_and_inn(store, default_models):
    run(store, default_models["company"], COMPANIES)
    got = groups(store, "company")
    assert set(got.values()) == {frozenset({"501", "502"})}
    assert all(gid.startswith("co-") for gid in got)
