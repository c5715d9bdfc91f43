"""amoCRM API v4 JSON -> records: the shared sample pages, shapes, validation, JSON/JSONL files."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from resolver.errors import InputError, InputProblem
from resolver.ingest.amocrm import read_amocrm, read_amocrm_file, record_from_amocrm
from resolver.records import Record

SAMPLES = Path(__file__).parent / "fixtures"  # copies of the shared amoCRM API v4 samples


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _load(name: str) -> object:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def _contact(record_id: int = 1, **fields: object) -> dict:
    return {"id": record_id, "name": f"Контакт {record_id}", **fields}


def _cf(code: str | None, name: str, *values: object, field_id: int = 100001) -> dict:
    return {
        "field_id": field_id,
        "field_name": name,
        "field_code": code,
        "values": [{"value": value} for value in values],
    }


def _where(error: InputError) -> list[tuple[str | None, int | None, str | None]]:
    return [(p.source, p.line if p.item is None else p.item, p.field) for p in error.problems]


# --- the shared samples -----------------------------------------------------------------------


def test_sample_contacts_page_gives_exact_records():
    records = read_amocrm(_load("contacts_page.json"), "contact", source="contacts_page.json")

    data = _load("contacts_page.json")["_embedded"]["contacts"]
    assert records == [
        Record(
            entity="contact", record_id="3180001", name="Петров Иван",
            phones=("8 916 123-45-67", "+7 (495) 765-43-21 доб. 12"), emails=("I.Petrov@romashka.ru",),
            company_ids=("5120001",), lead_ids=("7310001",), open_lead_ids=("7310001",),  # no status: open
            position="Снабженец", responsible_user_id="504141",
            created_at=_utc(1700000000), updated_at=_utc(1730000000), raw=data[0],
        ),
        # a telephony auto-name stays as written; normalization reads the phone out of it later
        Record(
            entity="contact", record_id="3180002", name="Новый контакт по звонку с +79161234567 из UIS",
            phones=("+79161234567",), responsible_user_id="504142",
            created_at=_utc(1731000000), updated_at=_utc(1731000000), raw=data[1],
        ),
        # custom_fields_values: null is no fields; "-" is junk, but junk is normalization's call
        Record(
            entity="contact", record_id="3180003", name="-", responsible_user_id="504142",
            created_at=_utc(1732000000), updated_at=_utc(1732000000), raw=data[2],
        ),
    ]  # fmt: skip


def test_sample_companies_page_gives_exact_records():
    records = read_amocrm(_load("companies_page.json"), "company", extra_fields={"inn_copy": "600001"})

    data = _load("companies_page.json")["_embedded"]["companies"]
    assert records == [
        Record(
            entity="company", record_id="5120001", name="ООО «Ромашка»",
            phones=("+7 (495) 765-43-21",), emails=("info@romashka.ru",),
            lead_ids=("7310001",), open_lead_ids=("7310001",),
            inn="7707083893",  # the account's own field "ИНН", found by name (it has no field_code)
            website="https://www.romashka.ru/", responsible_user_id="504141",
            created_at=_utc(1690000000), updated_at=_utc(1729000000),
            extra={"address": "г. Москва, ул. Ленина, д. 1", "inn_copy": "7707083893"},
            raw=data[0],
        ),
        Record(
            entity="company", record_id="5120002", name="Ромашка, ООО", phones=("84957654321",),
            responsible_user_id="504142", created_at=_utc(1725000000), updated_at=_utc(1725000000),
            raw=data[1],
        ),
    ]  # fmt: skip


# --- top-level shapes -------------------------------------------------------------------------

_A, _B, _C = _contact(1), _contact(2), _contact(3)


@pytest.mark.parametrize(
    ("data", "ids"),
    [
        ([_A, _B], ["1", "2"]),
        ({"_page": 1, "_embedded": {"contacts": [_A, _B]}}, ["1", "2"]),
        (_A, ["1"]),
        ([{"_embedded": {"contacts": [_A]}}, {"_embedded": {"contacts": [_B, _C]}}], ["1", "2", "3"]),
        ({"_page": 1, "_embedded": {"contacts": []}}, []),
        ([], []),
        # a contact's own _embedded.companies does not make it a page of companies
        ([{**_A, "_embedded": {"companies": [{"id": 9}]}}], ["1"]),
    ],
    ids=["list", "page", "single-object", "list-of-pages", "empty-page", "empty-list", "embedded-companies"],
)
def test_every_input_shape_is_flattened(data, ids):
    assert [r.record_id for r in read_amocrm(data, "contact")] == ids


@pytest.mark.parametrize(
    ("data", "got"),
    [
        (None, "got null"),
        ("contacts", "got a string"),
        (42, "got a number"),
        ({"_page": 1, "_embedded": {"companies": [_A]}}, "got a page with _embedded.companies"),
        ([{"_page": 1, "_embedded": {"leads": []}}], "got a page with _embedded.leads"),
        ({"_embedded": {"contacts": {"id": 1}}}, "_embedded.contacts is an object, expected a list"),
    ],
    ids=["null", "string", "number", "companies-page-as-contacts", "leads-page-in-list", "page-not-list"],
)
def test_unrecognised_shape_says_what_was_expected(data, got):
    with pytest.raises(InputError) as caught:
        read_amocrm(data, "contact", source="dump.json")

    assert len(caught.value.problems) == 1
    message = str(caught.value)
    assert message.startswith("dump.json: ")
    assert got in message
    if "expected a list" not in got:
        assert "expected a list of contacts, a page with _embedded.contacts" in message


# --- fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        ({"id": 1, "name": "", "first_name": " Иван ", "last_name": "Петров"}, "Иван Петров"),
        ({"id": 1, "name": "  ", "first_name": "Иван", "last_name": ""}, "Иван"),
        ({"id": 1, "name": "", "first_name": "", "last_name": ""}, None),
        ({"id": 1}, None),
        ({"id": 1, "name": "  ООО «Ёлка»  ", "first_name": "x"}, "ООО «Ёлка»"),
    ],
    ids=["first-and-last", "first-only", "all-empty", "no-name-keys", "name-wins-and-is-stripped"],
)
def test_name_falls_back_to_first_and_last(entity, expected):
    assert record_from_amocrm(entity, "contact").name == expected


def test_values_are_stripped_and_empty_ones_dropped():
    entity = _contact(
        7,
        custom_fields_values=[
            _cf("PHONE", "Телефон", " +7 916 000-00-01 ", "", "   ", 79160000002),
            _cf("EMAIL", "Email", "  ", "a@b.ru "),
            _cf("WEB", "Web", "", "site.ru", "second.ru"),
        ],
    )

    record = record_from_amocrm(entity, "contact")

    # numbers are kept as their digits (a phone in a number field), empty strings are absent
    assert (record.phones, record.emails, record.website) == (
        ("+7 916 000-00-01", "79160000002"),
        ("a@b.ru",),
        "site.ru",
    )


@pytest.mark.parametrize(
    ("leads", "lead_ids", "open_lead_ids"),
    [
        ([{"id": 10}], ("10",), ("10",)),
        ([{"id": 10, "status_id": 142}], ("10",), ()),
        ([{"id": 10, "status_id": 143}], ("10",), ()),
        ([{"id": 10, "status_id": 31000001}, {"id": 11, "status_id": 143}], ("10", "11"), ("10",)),
        ([{"id": 10, "status_id": "142"}], ("10",), ()),
        ([], (), ()),
    ],
    ids=[
        "no-status-is-open",
        "won-142-closed",
        "lost-143-closed",
        "pipeline-status-open",
        "status-as-text",
        "none",
    ],
)
def test_open_leads_exclude_won_and_lost(leads, lead_ids, open_lead_ids):
    record = record_from_amocrm(_contact(1, _embedded={"leads": leads}), "contact")

    assert (record.lead_ids, record.open_lead_ids) == (lead_ids, open_lead_ids)


def test_company_name_and_ids_come_from_embedded_companies():
    embedded = {"companies": [{"id": 5120001, "name": " ООО «Ромашка» "}, {"id": "5120002"}]}

    record = record_from_amocrm(_contact(1, _embedded=embedded), "contact")

    assert (record.company_ids, record.company_name) == (("5120001", "5120002"), "ООО «Ромашка»")


def test_deleted_flag_and_responsible_user():
    record = record_from_amocrm(_contact(1, is_deleted=True, responsible_user_id=504141), "contact")

    assert (record.deleted, record.responsible_user_id) == (True, "504141")


def test_raw_is_the_entity_as_received():
    entity = _contact(1, custom_fields_values=[_cf(None, "Источник", {"nested": True})])

    assert record_from_amocrm(entity, "contact").raw is entity


def test_fields_we_do_not_read_are_not_validated():
    # legal_entity values are objects and checkbox values booleans in real accounts
    legal = {"field_id": 700001, "field_name": "Юр. лицо", "field_code": None,
             "values": [{"value": {"name": "ООО Ромашка", "vat_id": "7707083893"}}]}  # fmt: skip
    entity = _contact(1, custom_fields_values=[legal, _cf(None, "Рассылка", True, field_id=700002)])

    assert record_from_amocrm(entity, "company").record_id == "1"


# --- extra fields -----------------------------------------------------------------------------

_FIELDS = [
    _cf(None, "Источник", "Сайт", " Звонок ", field_id=700001),
    _cf(None, "ИНН", "7707083893", field_id=600001),
    _cf(None, "VIP", True, field_id=700002),
    _cf("ADDRESS", "Адрес", "г. Москва", field_id=100005),
]


@pytest.mark.parametrize(
    ("extra_fields", "extra"),
    [
        ({"source": "источник"}, {"source": "Сайт; Звонок", "address": "г. Москва"}),
        ({"source": "700001"}, {"source": "Сайт; Звонок", "address": "г. Москва"}),
        ({"inn": "ИНН", "vip": "VIP"}, {"inn": "7707083893", "vip": "true", "address": "г. Москва"}),
        ({"region": "Регион"}, {"address": "г. Москва"}),
        # the address field mapped under another name is not also copied to extra["address"]
        ({"addr": "Адрес"}, {"addr": "г. Москва"}),
        ({"address": "Источник"}, {"address": "Сайт; Звонок"}),
    ],
    ids=[
        "by-name-any-case",
        "by-field-id",
        "checkbox-as-true",
        "absent-field",
        "address-renamed",
        "address-key-taken",
    ],
)
def test_extra_fields_by_name_or_id(extra_fields, extra):
    entity = _contact(1, custom_fields_values=_FIELDS)

    record = record_from_amocrm(entity, "company", extra_fields=extra_fields)

    assert record.extra == extra


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "field", "reason"),
    [
        ("Иван", None, "expected a contact object, got a string"),
        ({"name": "Иван"}, "id", "missing id"),
        ({"id": "12a"}, "id", "expected an integer id, got '12a'"),
        ({"id": True}, "id", "expected an integer id, got a boolean"),
        ({"id": -5}, "id", "expected an integer id, got -5"),
        (
            {"id": 1, "created_at": "1700000000"},
            "created_at",
            "expected unix seconds (a number), got '1700000000'",
        ),
        ({"id": 1, "updated_at": 1e300}, "updated_at", "timestamp 1e+300 is out of range"),
        ({"id": 1, "custom_fields_values": {}}, "custom_fields_values", "expected a list, got an object"),
        (
            {"id": 1, "custom_fields_values": ["PHONE"]},
            "custom_fields_values[0]",
            "expected an object, got a string",
        ),
        (
            {"id": 1, "custom_fields_values": [_cf("EMAIL", "Email", "a@b"), _cf("PHONE", "Тел", {"v": 1})]},
            "custom_fields_values[1].values[0].value",
            "expected a string or number, got an object",
        ),
        (
            {"id": 1, "custom_fields_values": [_cf("PHONE", "Телефон", "1", True)]},
            "custom_fields_values[0].values[1].value",
            "expected a string or number, got a boolean",
        ),
        ({"id": 1, "is_deleted": "yes"}, "is_deleted", "expected true or false, got a string"),
        ({"id": 1, "_embedded": {"companies": [{"name": "x"}]}}, "_embedded.companies[0].id", "missing id"),
        ({"id": 1, "name": ["Иван"]}, "name", "expected a string or number, got a list"),
    ],
    ids=[
        "not-an-object", "no-id", "id-not-digits", "id-boolean", "id-negative", "created-at-text",
        "updated-at-overflow", "custom-fields-not-list", "custom-field-not-object", "phone-value-object",
        "phone-value-boolean", "is-deleted-text", "embedded-company-without-id", "name-list",
    ],
)  # fmt: skip
def test_bad_entity_names_source_index_and_field(entity, field, reason):
    with pytest.raises(InputError) as caught:
        read_amocrm([_contact(1), entity], "contact", source="contacts.json")

    assert caught.value.problems == [InputProblem(reason, "contacts.json", field=field, item=1)]


def test_every_problem_is_collected_into_one_error():
    data = [
        {"id": "x1"},
        _contact(2),
        {"id": 3, "created_at": "вчера", "custom_fields_values": "PHONE"},
        [],
    ]

    with pytest.raises(InputError) as caught:
        read_amocrm(data, "contact", source="contacts.json")

    assert _where(caught.value) == [
        ("contacts.json", 0, "id"),
        ("contacts.json", 2, "custom_fields_values"),
        ("contacts.json", 2, "created_at"),
        ("contacts.json", 3, None),
    ]
    assert str(caught.value) == (
        "contacts.json, item 0, field id: expected an integer id, got 'x1' (and 3 more problems)"
    )


def test_record_from_amocrm_names_the_item_index():
    with pytest.raises(InputError) as caught:
        record_from_amocrm({"id": "abc"}, "company", index=4)

    assert caught.value.problems == [InputProblem("expected an integer id, got 'abc'", field="id", item=4)]
    assert str(caught.value) == "item 4, field id: expected an integer id, got 'abc'"


# --- duplicates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kept_name"),
    [
        ([_contact(1, name="старый", updated_at=100), _contact(1, name="новый", updated_at=200)], "новый"),
        ([_contact(1, name="новый", updated_at=200), _contact(1, name="старый", updated_at=100)], "новый"),
        # same updated_at: the later one (a later page) wins
        ([_contact(1, name="первый", updated_at=100), _contact(1, name="второй", updated_at=100)], "второй"),
        ([_contact(1, name="без даты"), _contact(1, name="с датой", updated_at=1)], "с датой"),
        ([_contact(1, name="с датой", updated_at=1), _contact(1, name="без даты")], "с датой"),
    ],
    ids=["newer-last", "newer-first", "tie-later-wins", "dated-beats-undated", "undated-loses"],
)
def test_duplicate_ids_keep_the_latest_update(data, kept_name):
    records = read_amocrm([*data, _contact(2)], "contact")

    assert [(r.record_id, r.name) for r in records] == [("1", kept_name), ("2", "Контакт 2")]


# --- files ------------------------------------------------------------------------------------


def test_json_file_names_itself_in_errors(tmp_path):
    path = tmp_path / "контакты.json"
    path.write_text(json.dumps([_contact(1), {"id": 2, "updated_at": "x"}]), encoding="utf-8")

    with pytest.raises(InputError) as caught:
        read_amocrm_file(path, "contact")

    assert _where(caught.value) == [("контакты.json", 1, "updated_at")]


def test_json_file_with_bom_and_page(tmp_path):
    path = tmp_path / "page.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"_embedded": {"companies": [_contact(5)]}}).encode())

    assert [r.record_id for r in read_amocrm_file(path, "company")] == ["5"]


@pytest.mark.parametrize(
    ("name", "text", "line", "column"),
    [
        ("broken.json", '[\n  {"id": 1},\n  {"id": 2,}\n]', 3, "12"),
        ("broken.jsonl", '{"id": 1}\n\n{"id": 2\n', 3, "9"),
    ],
    ids=["json", "jsonl"],
)
def test_invalid_json_names_line_and_column(tmp_path, name, text, line, column):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")

    with pytest.raises(InputError) as caught:
        read_amocrm_file(path, "contact")

    assert _where(caught.value) == [(name, line, column)]
    assert str(caught.value).startswith(f"{name}, line {line}, column {column}: invalid JSON: ")


def test_jsonl_lines_are_numbered_from_one(tmp_path):
    lines = [
        json.dumps(_contact(1)),
        "",
        json.dumps({"id": "два"}),
        json.dumps({"_embedded": {"contacts": [_contact(4), {"id": 5, "is_deleted": 1}]}}),
        json.dumps({"_page": 1, "_embedded": {"companies": []}}),
        "{oops",
    ]
    path = tmp_path / "contacts.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")

    with pytest.raises(InputError) as caught:
        read_amocrm_file(path, "contact")

    assert _where(caught.value) == [
        ("contacts.jsonl", 3, "id"),
        ("contacts.jsonl", 4, "is_deleted"),  # the second entity of the page on line 4
        ("contacts.jsonl", 5, None),  # a page of companies where contacts were expected
        ("contacts.jsonl", 6, "2"),  # invalid JSON, column 2
    ]


def test_jsonl_file_reads_entities_and_pages(tmp_path):
    path = tmp_path / "contacts.jsonl"
    page = {"_embedded": {"contacts": [_contact(2), _contact(3)]}}
    path.write_text(f"{json.dumps(_contact(1))}\n{json.dumps(page)}\n\n", encoding="utf-8")

    assert [r.record_id for r in read_amocrm_file(path, "contact")] == ["1", "2", "3"]


def test_non_utf8_json_file_is_an_input_error(tmp_path):
    path = tmp_path / "cp1251.json"
    path.write_bytes('[{"id": 1},\n{"id": 2, "name": "Иван"}]'.encode("cp1251"))

    with pytest.raises(InputError) as caught:
        read_amocrm_file(path, "contact")

    assert caught.value.problems == [InputProblem("not UTF-8 text", "cp1251.json", 2, None)]
