"""training.synthetic: deterministic amoCRM-shaped contacts and companies whose truth the tests can trust."""

from __future__ import annotations

import csv
import gc
import json
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from training import synthetic_names as names
from training.synthetic import SyntheticSet, generate_companies, generate_contacts, main, write_set

N = 5000
REPO = Path(__file__).resolve().parents[2]
GENERATORS = [pytest.param(generate_contacts, id="contacts"), pytest.param(generate_companies, id="companies")]

# Keys of GET /api/v4/contacts and /api/v4/companies items (the samples in shared/data/amocrm).
CONTACT_KEYS = {
    "id", "name", "first_name", "last_name", "responsible_user_id", "group_id", "created_by", "updated_by",
    "created_at", "updated_at", "closest_task_at", "is_deleted", "is_unsorted", "account_id",
    "custom_fields_values", "_links", "_embedded",
}
COMPANY_KEYS = CONTACT_KEYS - {"first_name", "last_name", "is_unsorted"}
FREE_MAIL = ("mail.ru", "yandex.ru", "gmail.com", "bk.ru", "list.ru", "inbox.ru", "rambler.ru")
# Russian mobile codes in use, written out here independently of the generator's table.
VALID_MOBILE_CODES = {str(c) for lo, hi in ((901, 906), (909, 909), (910, 939), (950, 953), (958, 958),
                                            (960, 969), (977, 989), (991, 999)) for c in range(lo, hi + 1)}


@pytest.fixture(scope="module")
def contacts() -> SyntheticSet:
    return generate_contacts(N, seed=1)


@pytest.fixture(scope="module")
def companies() -> SyntheticSet:
    return generate_companies(N, seed=1)


# --- helpers: read the generated records the way a consumer would ---------------------------------

def values(record: dict[str, Any], code: str | None, name: str | None = None) -> list[str]:
    """Values of the custom field with `code` (or, for code None, the field named `name`)."""
    found = []
    for field in record["custom_fields_values"] or []:
        if field["field_code"] == code and (name is None or field["field_name"] == name):
            found.extend(v["value"] for v in field["values"])
    return found


def real_phones(record: dict[str, Any]) -> list[str]:
    return [v for v in values(record, "PHONE") if v not in names.JUNK_PHONES]


def real_emails(record: dict[str, Any]) -> list[str]:
    return [v for v in values(record, "EMAIL") if v not in names.JUNK_EMAILS]


def tail(phone: str) -> str:
    """Last 9 digits, an extension dropped: enough to tell numbers apart across spellings."""
    return re.sub(r"\D", "", phone.split(" доб.")[0])[-9:]


def fold(text: str) -> str:
    return text.strip().casefold().replace("ё", "е")


def clusters(s: SyntheticSet, *, min_size: int = 2) -> list[list[dict[str, Any]]]:
    """Records grouped by truth key, groups of at least `min_size`."""
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in s.entities:
        by_key[s.truth[str(record["id"])]].append(record)
    return [group for group in by_key.values() if len(group) >= min_size]


def pairs(s: SyntheticSet) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every ordered pair of two records of one truth cluster."""
    return [(a, b) for group in clusters(s) for a in group for b in group if a is not b]


def hard_clusters(s: SyntheticSet, prefix: str) -> list[list[dict[str, Any]]]:
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in s.entities:
        key = s.hard_negatives.get(str(record["id"]), "")
        if key.startswith(prefix):
            by_key[key].append(record)
    return list(by_key.values())


def one_edit_apart(a: str, b: str) -> bool:
    """True when b is a with one letter replaced, dropped, doubled or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def inn_is_valid(inn: str) -> bool:
    """INN check digits (ФНС): weighted sums mod 11 mod 10; 10 digits for firms, 12 for ИП."""
    if not re.fullmatch(r"\d{10}|\d{12}", inn):
        return False
    d = [int(c) for c in inn]

    def check(weights: tuple[int, ...]) -> int:
        return sum(w * x for w, x in zip(weights, d, strict=False)) % 11 % 10

    if len(d) == 10:
        return check((2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[9]
    return (check((7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[10]
            and check((3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[11])


@pytest.mark.parametrize(
    ("inn", "valid"),
    [("7707083893", True),  # Сбербанк, the classic example
     ("7707083894", False),  # last digit off
     ("500100732259", True),  # a 12-digit ИП INN
     ("500100732258", False),
     ("77070838", False)],
    ids=["sber-10", "sber-bad-check", "ip-12", "ip-12-bad-check", "too-short"],
)
def test_the_tests_own_inn_check_knows_real_inns(inn: str, valid: bool) -> None:
    assert inn_is_valid(inn) is valid


# --- determinism, sizes, rates ------------------------------------------------------------------------

@pytest.mark.parametrize("generate", GENERATORS)
def test_same_seed_gives_identical_output_and_another_seed_does_not(generate: Callable[..., SyntheticSet]) -> None:
    first, again, other = generate(800, seed=7), generate(800, seed=7), generate(800, seed=8)
    assert first == again
    assert json.dumps(first.entities, ensure_ascii=False) == json.dumps(again.entities, ensure_ascii=False)
    assert first.entities != other.entities


def test_output_does_not_depend_on_the_hash_seed_of_the_process() -> None:
    # set iteration order changes with PYTHONHASHSEED; the bench compares runs across processes
    script = ("import hashlib, json; from training.synthetic import generate_contacts, generate_companies; "
              "print(hashlib.sha256(json.dumps([generate_contacts(400, seed=9).entities, "
              "generate_companies(400, seed=9).entities]).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")}
    assert len(digests) == 1


@pytest.mark.parametrize("generate", GENERATORS)
@pytest.mark.parametrize("n", [0, 1, 2, 7, 100, 1234], ids=lambda n: f"n={n}")
def test_size_is_exactly_n_with_unique_ids(generate: Callable[..., SyntheticSet], n: int) -> None:
    s = generate(n, seed=3)
    ids = [record["id"] for record in s.entities]
    assert len(s.entities) == n
    assert len(set(ids)) == n
    assert set(s.truth) == {str(i) for i in ids}
    assert set(s.hard_negatives) <= set(s.truth)
    assert ids == sorted(ids)  # a page lists records by id, and ids grow with creation time
    assert [r["created_at"] for r in s.entities] == sorted(r["created_at"] for r in s.entities)


@pytest.mark.parametrize("generate", GENERATORS)
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.25], ids=lambda r: f"rate={r}")
def test_duplicate_share_matches_the_rate_within_three_points(generate: Callable[..., SyntheticSet],
                                                             rate: float) -> None:
    s = generate(N, seed=2, duplicate_rate=rate)
    extra_copies = N - len(set(s.truth.values()))
    assert abs(extra_copies / N - rate) <= 0.03
    sizes = {len(group) for group in clusters(s)}
    assert sizes <= {2, 3, 4}
    if rate:
        assert {2, 3} <= sizes  # mostly pairs, sometimes three or four records of one entity


@pytest.mark.parametrize("generate", GENERATORS)
@pytest.mark.parametrize(("n", "rate"), [(-1, 0.1), (10, -0.1), (10, 0.6)], ids=["negative-n", "negative-rate",
                                                                                 "rate-above-half"])
def test_bad_arguments_are_refused(generate: Callable[..., SyntheticSet], n: int, rate: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        generate(n, duplicate_rate=rate)


def test_generation_leaves_the_garbage_collector_as_it_found_it() -> None:
    assert gc.isenabled()
    generate_contacts(50)
    assert gc.isenabled()


@pytest.mark.parametrize(("fixture", "kinds"), [("contacts", {"email", "phone", "name", "family"}),
                                                ("companies", {"company", "legal", "freemail"})],
                         ids=["contacts", "companies"])
def test_hard_negatives_are_3_to_5_percent_of_different_entities(fixture: str, kinds: set[str],
                                                                 request: pytest.FixtureRequest) -> None:
    s: SyntheticSet = request.getfixturevalue(fixture)
    assert 0.03 <= len(s.hard_negatives) / N <= 0.05
    assert {key.split(":")[0] for key in s.hard_negatives.values()} == kinds
    by_cluster: dict[str, list[str]] = defaultdict(list)
    for record_id, key in s.hard_negatives.items():
        by_cluster[key].append(s.truth[record_id])
    for key, entity_keys in by_cluster.items():
        assert len(entity_keys) >= 2, key
        assert len(set(entity_keys)) == len(entity_keys), f"{key}: one entity twice"
    # some planted entities also have true duplicates: the truth, not the cluster, decides
    sizes = defaultdict(int)
    for entity_key in s.truth.values():
        sizes[entity_key] += 1
    assert any(sizes[s.truth[record_id]] > 1 for record_id in s.hard_negatives)


# --- amoCRM shape -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("fixture", "keys", "codes", "embedded"), [
    ("contacts", CONTACT_KEYS, {"PHONE", "EMAIL", "POSITION", "WEB"}, {"tags", "companies", "leads"}),
    ("companies", COMPANY_KEYS, {"PHONE", "EMAIL", "WEB", "ADDRESS", None}, {"tags", "contacts", "leads"}),
], ids=["contacts", "companies"])
def test_records_have_the_amocrm_v4_shape(fixture: str, keys: set[str], codes: set[str | None],
                                          embedded: set[str], request: pytest.FixtureRequest) -> None:
    s: SyntheticSet = request.getfixturevalue(fixture)
    seen_codes: set[str | None] = set()
    for record in s.entities:
        assert set(record) == keys, record["id"]
        assert isinstance(record["id"], int) and record["account_id"] == 29_000_000
        assert record["is_deleted"] is False
        assert record["updated_at"] >= record["created_at"]
        assert set(record["_embedded"]) == embedded and record["_embedded"]["tags"] == []
        fields = record["custom_fields_values"]
        assert fields is None or len(fields) > 0  # amoCRM sends null, never an empty list
        for field in fields or []:
            seen_codes.add(field["field_code"])
            assert field["values"], record["id"]
            if field["field_code"] in ("PHONE", "EMAIL"):
                assert all(v["enum_code"] in {"WORK", "MOB", "WORKDD", "FAX", "HOME", "PRIV", "OTHER"}
                           and isinstance(v["enum_id"], int) for v in field["values"])
            if field["field_code"] is None:
                assert field["field_name"] == "ИНН"
    assert seen_codes == codes
    assert any(record["custom_fields_values"] is None for record in s.entities)


def test_leads_users_companies_and_update_times_exercise_the_survivor_rule(contacts: SyntheticSet) -> None:
    leads = [lead for r in contacts.entities for lead in r["_embedded"]["leads"]]
    with_leads = sum(1 for r in contacts.entities if r["_embedded"]["leads"])
    assert 0.35 <= with_leads / N <= 0.45
    assert {len(r["_embedded"]["leads"]) for r in contacts.entities} == {0, 1, 2, 3}
    statuses = {lead["status_id"] for lead in leads}
    assert {142, 143} <= statuses and statuses - {142, 143}  # won, lost and open deals
    assert len({lead["id"] for lead in leads}) == len(leads)
    assert 10 <= len({r["responsible_user_id"] for r in contacts.entities}) <= 20
    linked = sum(1 for r in contacts.entities if r["_embedded"]["companies"])
    assert 0.1 <= linked / N <= 0.4
    assert any(r["updated_at"] == r["created_at"] for r in contacts.entities)
    # the most recently updated record of a cluster is sometimes the newer one, sometimes the older one
    newest_is_last_created = {max(g, key=lambda r: r["updated_at"]) is g[-1] for g in clusters(contacts)}
    assert newest_is_last_created == {True, False}


# --- contacts: persons ------------------------------------------------------------------------------

def test_names_take_the_gender_form_of_surname_and_patronymic(contacts: SyntheticSet) -> None:
    male_forms = {s for s in names.SURNAMES if s.endswith(("ов", "ев", "ёв", "ин"))}
    checked = 0
    for group in clusters(contacts, min_size=1):
        record = group[0]
        given = record["first_name"].split()
        if len(group) > 1 or not given or not record["last_name"]:
            continue
        if given[0] in names.FEMALE_FIRST_NAMES:
            checked += 1
            assert record["last_name"] not in male_forms, record["name"]  # Петрова, not Петров
            assert len(given) == 1 or given[1].endswith(("вна", "чна")), record["name"]  # Ивановна
        elif given[0] in names.MALE_FIRST_NAMES:
            assert len(given) == 1 or given[1].endswith("ич"), record["name"]  # Иванович, Ильич
    assert checked > 500


def test_popular_names_repeat_as_natural_namesakes(contacts: SyntheticSet) -> None:
    full_names = defaultdict(set)
    for record in contacts.entities:
        if record["last_name"]:
            full_names[(record["first_name"].split()[0], record["last_name"])].add(contacts.truth[str(record["id"])])
    assert max(len(keys) for keys in full_names.values()) >= 3


def test_phones_are_valid_russian_mobiles_or_landlines_kz_and_by(contacts: SyntheticSet) -> None:
    kinds: set[str] = set()
    for record in contacts.entities:
        for phone in real_phones(record):
            digits = re.sub(r"\D", "", phone.split(" доб.")[0])
            if digits.startswith("375") or (digits.startswith("80") and len(digits) == 11):
                kinds.add("BY")
                continue
            national = digits[-10:]
            if national[0] == "9":
                assert national[:3] in VALID_MOBILE_CODES, phone
                kinds.add("RU mobile")
            elif national[0] == "7":
                kinds.add("KZ")
            else:
                assert national[:3] in {"495", "499", "812", "843"}, phone
                kinds.add("RU landline")
    assert kinds == {"RU mobile", "RU landline", "KZ", "BY"}


@pytest.mark.parametrize(("pattern", "example"), [
    (r"8 9\d\d \d{3}-\d\d-\d\d", "8 916 123-45-67"),
    (r"\+7 \(9\d\d\) \d{7}", "+7 (916) 1234567"),
    (r"9\d{9}", "9161234567"),
    (r"79\d{9}", "79161234567"),
    (r"\+7 9\d\d \d{3} \d\d \d\d", "+7 916 123 45 67"),
    (r"\+7 \(\d{3}\) \d{3}-\d\d-\d\d доб\. \d+", "+7 (495) 765-43-21 доб. 12"),
], ids=["8 916 123-45-67", "+7 (916) 1234567", "9161234567", "79161234567", "+7 916 123 45 67", "extension"])
def test_each_phone_spelling_occurs(contacts: SyntheticSet, pattern: str, example: str) -> None:
    assert re.fullmatch(pattern, example)
    assert any(re.fullmatch(pattern, p) for r in contacts.entities for p in values(r, "PHONE")), example


def test_emails_are_translit_logins_on_free_mail_and_some_corporate(contacts: SyntheticSet) -> None:
    emails = [fold(e) for r in contacts.entities for e in real_emails(r)]
    domains = {e.rpartition("@")[2] for e in emails}
    assert set(FREE_MAIL) <= domains
    assert len(domains - set(FREE_MAIL) - {"edu.ru"}) > 20  # corporate domains
    logins_with_surname = sum(1 for r in contacts.entities for e in real_emails(r)
                              if r["last_name"] and names.translit(fold(r["last_name"]))[:4] in fold(e))
    assert logins_with_surname > 1000


def test_some_contacts_have_no_phone_and_no_email(contacts: SyntheticSet) -> None:
    bare = sum(1 for r in contacts.entities if not values(r, "PHONE") and not values(r, "EMAIL"))
    assert 0.03 <= bare / N <= 0.08


@pytest.mark.parametrize("field", ["name", "PHONE", "EMAIL"])
def test_junk_values_occur_in_originals_too(contacts: SyntheticSet, field: str) -> None:
    junk = {"name": names.JUNK_NAMES, "PHONE": names.JUNK_PHONES, "EMAIL": names.JUNK_EMAILS}[field]
    singles = [group[0] for group in clusters(contacts, min_size=1) if len(group) == 1]
    found = [v for r in singles for v in ([r["name"]] if field == "name" else values(r, field)) if v in junk]
    assert found, field
    if field == "PHONE":
        assert "+7 (000) 000-00-00" in {v for r in contacts.entities for v in values(r, "PHONE")}
    if field == "EMAIL":
        assert "test@test.ru" in {v for r in contacts.entities for v in values(r, "EMAIL")}


# --- contacts: how copies of one person differ -------------------------------------------------------

def _names(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, str]:
    return a["name"], b["name"]


def _latin_name(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", a["name"])) and bool(re.search("[а-яА-Я]", b["name"]))


def _diminutive(a: dict[str, Any], b: dict[str, Any]) -> bool:
    first_a, first_b = a["first_name"].split()[:1], b["first_name"].split()[:1]
    return bool(first_a and first_b) and first_a[0] in names.DIMINUTIVES.get(first_b[0], ())


def _patronymic_dropped(a: dict[str, Any], b: dict[str, Any]) -> bool:
    tokens_a, tokens_b = a["name"].split(), b["name"].split()
    return len(tokens_a) == 3 and len(tokens_b) == 2 and set(tokens_b) < set(tokens_a)


def _phone_call_autoname(a: dict[str, Any], b: dict[str, Any]) -> bool:
    m = re.fullmatch(r"Новый контакт по звонку с (\+\d+) из .+", a["name"])
    return bool(m) and tail(m.group(1)) in {tail(p) for p in real_phones(b)}


def _form_autoname(a: dict[str, Any], b: dict[str, Any]) -> bool:
    m = re.fullmatch(r"Заявка от «(.+)»", a["name"])
    shared = {tail(p) for p in real_phones(a)} & {tail(p) for p in real_phones(b)} or \
        {fold(e) for e in real_emails(a)} & {fold(e) for e in real_emails(b)}
    return bool(m) and bool(shared)


def _site_autoname(a: dict[str, Any], b: dict[str, Any]) -> bool:
    m = re.fullmatch(r"Новый контакт «(.+)» по заявке с сайта", a["name"])
    return bool(m) and m.group(1) in real_emails(a) and fold(m.group(1)) in {fold(e) for e in real_emails(b)}


COPY_PATTERNS: list[tuple[str, Callable[[dict[str, Any], dict[str, Any]], bool]]] = [
    ("token order: Петров Иван / Иван Петров",
     lambda a, b: a["name"].split() == b["name"].split()[::-1] and len(a["name"].split()) == 2),
    ("with and without patronymic", _patronymic_dropped),
    ("diminutive: Саша for Александр", _diminutive),
    ("ё written as е", lambda a, b: "ё" in b["name"].lower() and a["name"] == b["name"].replace("ё", "е")),
    ("upper case: ИВАН ПЕТРОВ", lambda a, b: a["name"] == b["name"].upper() != b["name"]),
    ("one-letter typo in the surname",
     lambda a, b: bool(a["last_name"]) and one_edit_apart(fold(a["last_name"]), fold(b["last_name"]))),
    ("Latin transliteration: Ivan Petrov", _latin_name),
    ("initials: Петров И.И.", lambda a, _: bool(re.fullmatch(r"\w+ (\w\.){1,2}|(\w\.){1,2} \w+", a["name"]))),
    ("e-mail case or spaces",
     lambda a, b: any(e != e.strip().lower() and e.strip().lower() in real_emails(b) for e in real_emails(a))),
    ("phone spelled another way",
     lambda a, b: any(tail(p) == tail(q) and p != q for p in real_phones(a) for q in real_phones(b))),
    ("a second phone added", lambda a, b: len(real_phones(a)) > len(real_phones(b)) >= 1
     and {tail(p) for p in real_phones(b)} < {tail(p) for p in real_phones(a)}),
    ("e-mail missing, phone present",
     lambda a, b: not real_emails(a) and bool(real_emails(b)) and bool(real_phones(a))),
    ("telephony auto-name with the person's phone", _phone_call_autoname),
    ("web-form auto-name «Заявка от»", _form_autoname),
    ("site auto-name with the person's e-mail", _site_autoname),
]


@pytest.mark.parametrize(("label", "holds"), COPY_PATTERNS, ids=[label for label, _ in COPY_PATTERNS])
def test_each_way_copies_of_one_person_differ_occurs(contacts: SyntheticSet, label: str,
                                                     holds: Callable[[dict[str, Any], dict[str, Any]], bool]) -> None:
    assert any(holds(a, b) for a, b in pairs(contacts)), label


# --- contacts: hard negatives -----------------------------------------------------------------------

def test_shared_email_groups_are_5_to_15_people_with_one_mailbox(contacts: SyntheticSet) -> None:
    groups = hard_clusters(contacts, "email:")
    assert groups
    for group in groups:
        shared = set.intersection(*({fold(e) for e in real_emails(r)} for r in group))
        assert shared, [r["name"] for r in group]
        assert len(group) <= 15
    assert any(len(g) >= 5 for g in groups)
    assert any(e.startswith("school") for g in groups for r in g for e in real_emails(r))


def test_shared_office_phone_groups_have_one_landline_and_different_names(contacts: SyntheticSet) -> None:
    groups = hard_clusters(contacts, "phone:")
    assert groups
    for group in groups:
        shared = set.intersection(*({tail(p) for p in real_phones(r)} for r in group))
        assert shared, [r["name"] for r in group]
        assert 2 <= len(group) <= 10
        assert len({r["name"] for r in group}) > 1
    assert sum(len(group) >= 3 for group in groups) >= len(groups) - 1  # only the last planted may be cut short


def test_namesakes_share_a_full_name_but_no_phone_or_email(contacts: SyntheticSet) -> None:
    groups = hard_clusters(contacts, "name:")
    assert groups
    for group in groups:
        assert len({(fold(r["first_name"].split()[0]), fold(r["last_name"])) for r in group}) == 1
        phones = [tail(p) for r in group for p in real_phones(r)]
        emails = [fold(e) for r in group for e in real_emails(r)]
        assert len(phones) == len(set(phones)) and len(emails) == len(set(emails))


def test_families_share_a_surname_and_a_home_phone_not_a_first_name(contacts: SyntheticSet) -> None:
    groups = hard_clusters(contacts, "family:")
    assert groups
    for group in groups:
        surnames = [fold(r["last_name"]) for r in group]
        stem = min(len(s) for s in surnames) - 2  # Петров / Петрова, Высоцкий / Высоцкая
        assert len({s[:stem] for s in surnames}) == 1, surnames
        assert set.intersection(*({tail(p) for p in real_phones(r)} for r in group))
        assert len({fold(r["first_name"].split()[0]) for r in group}) == len(group)


# --- companies --------------------------------------------------------------------------------------

def test_every_inn_passes_the_fns_checksum(companies: SyntheticSet) -> None:
    inns = [v for r in companies.entities for v in values(r, None, "ИНН")]
    assert len(inns) > N // 2
    assert [inn for inn in inns if not inn_is_valid(inn)] == []
    assert {len(inn) for inn in inns} == {10, 12}


def test_ip_has_a_12_digit_inn_and_a_person_name(companies: SyntheticSet) -> None:
    ip = [r for r in companies.entities if r["name"].startswith("ИП ") and values(r, None, "ИНН")]
    assert ip
    assert all(len(values(r, None, "ИНН")[0]) == 12 for r in ip)
    assert any(re.fullmatch(r"ИП [А-ЯЁ][а-яё]+ [А-ЯЁ][а-яё]+ [А-ЯЁ][а-яё]+(вич|вна|ич|чна)", r["name"]) for r in ip)


@pytest.mark.parametrize("pattern", [
    r"ООО «[^«»]+»", r"[^,]+, ООО", r"OOO [A-Z][A-Za-z -]+", r'Общество с ограниченной ответственностью «.+»',
    r"[а-яё][а-яё -]+", r"ООО \"[^\"]+\"", r"(АО|ЗАО|ПАО|АНО) .+", r"ИП [А-ЯЁ][а-яё]+ [А-ЯЁ]\.[А-ЯЁ]\.",
], ids=["ООО «Ромашка»", "Ромашка, ООО", "OOO Romashka", "full legal form", "ромашка", "ООО \"Ромашка\"",
        "other forms", "ИП Иванов И.И."])
def test_each_company_name_style_occurs_within_duplicate_clusters(companies: SyntheticSet, pattern: str) -> None:
    assert any(re.fullmatch(pattern, r["name"]) for g in clusters(companies) for r in g), pattern


def test_copies_of_one_company_write_its_legal_form_differently(companies: SyntheticSet) -> None:
    assert any(len({r["name"] for r in g}) > 1 and len({fold(r["name"]) for r in g}) > 1
               for g in clusters(companies))


@pytest.mark.parametrize(("pattern", "example"), [
    (r"https://www\.[a-z0-9.-]+/", "https://www.romashka.ru/"),
    (r"[a-z0-9-]+\.(ru|com)", "romashka.ru"),
    (r"http://[a-z0-9.-]+/contacts", "http://romashka.ru/contacts"),
], ids=["https-www", "bare-domain", "contacts-page"])
def test_each_website_spelling_occurs(companies: SyntheticSet, pattern: str, example: str) -> None:
    assert re.fullmatch(pattern, example)
    assert any(re.fullmatch(pattern, w) for r in companies.entities for w in values(r, "WEB")), example


@pytest.mark.parametrize("field", [(None, "ИНН"), ("WEB", None)], ids=["inn", "website"])
def test_some_company_copies_miss_the_inn_or_website(companies: SyntheticSet,
                                                     field: tuple[str | None, str | None]) -> None:
    assert any(values(a, *field) and not values(b, *field) for a, b in pairs(companies))


def test_company_emails_are_info_at_their_domain_or_free_mail(companies: SyntheticSet) -> None:
    emails = [fold(e) for r in companies.entities for e in real_emails(r)]
    assert any(e.startswith("info@") for e in emails)
    assert any(e.rpartition("@")[2] in FREE_MAIL for e in emails)


@pytest.mark.parametrize(("prefix", "differ"), [
    ("company:", "city"),  # one name in several cities
    ("legal:", "form"),  # ООО «Вектор» vs АО «Вектор»
    ("freemail:", "name"),  # unrelated companies on one free-mail domain
], ids=["same-core-other-city", "other-legal-form", "shared-free-mail-domain"])
def test_company_hard_negatives_differ_where_it_matters(companies: SyntheticSet, prefix: str, differ: str) -> None:
    groups = hard_clusters(companies, prefix)
    assert groups
    for group in groups:
        inns = [v for r in group for v in values(r, None, "ИНН")]
        assert len(inns) == len(set(inns))
        phones = [tail(p) for r in group for p in real_phones(r)]
        assert len(phones) == len(set(phones))
        if differ == "city":
            assert len({r["name"] for r in group}) == 1
            assert len({v[:2] for v in inns}) == len(inns)  # INN region codes differ
        elif differ == "form":
            assert len({r["name"] for r in group}) == len(group)
        else:
            domains = {fold(e).rpartition("@")[2] for r in group for e in real_emails(r)}
            assert len(domains) == 1 and domains <= set(FREE_MAIL), domains
            assert len({r["name"] for r in group}) == len(group)


# --- files and command line -------------------------------------------------------------------------

@pytest.mark.parametrize(("generate", "stem"), [(generate_contacts, "contacts"), (generate_companies, "companies")],
                         ids=["contacts", "companies"])
def test_written_files_round_trip(tmp_path: Path, generate: Callable[..., SyntheticSet], stem: str) -> None:
    s = generate(4321, seed=5)  # more than one chunk of 2000 records
    page, truth = write_set(s, tmp_path / "out")
    assert (page.name, truth.name) == (f"{stem}.json", f"{stem}_truth.csv")
    assert json.loads(page.read_text(encoding="utf-8")) == {"_embedded": {stem: s.entities}}
    assert page.read_text(encoding="utf-8") == json.dumps({"_embedded": {stem: s.entities}}, ensure_ascii=False)
    with truth.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["record_id", "entity_key", "hard_negative"]
    assert {r["record_id"]: r["entity_key"] for r in rows} == s.truth
    assert {r["record_id"]: r["hard_negative"] for r in rows if r["hard_negative"]} == s.hard_negatives


def test_command_line_writes_the_same_set_as_the_library(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "training.synthetic", "--entity", "company", "--n", "60", "--seed", "4",
         "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [str(tmp_path / "companies.json"), str(tmp_path / "companies_truth.csv")]
    page = json.loads((tmp_path / "companies.json").read_text(encoding="utf-8"))
    assert page["_embedded"]["companies"] == generate_companies(60, seed=4).entities


def test_command_line_refuses_a_bad_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--n", "10", "--duplicate-rate", "0.9", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "duplicate_rate must be within [0, 0.5], got 0.9" in capsys.readouterr().err
