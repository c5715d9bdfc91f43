"""Records over the API: upsert one or a batch in both shapes, read, delete; every refusal names its field."""

import pytest

from tests.api.conftest import amocrm, flat, problem, require_route

PETROV_OUT = {
    "entity": "contact", "record_id": "3180001", "name": "Петров Иван",
    "phones": ["+79161234567", "+74957654321"], "emails": ["i.petrov@romashka.ru"],
    "responsible_user_id": "504141", "company_ids": ["5120001"], "lead_ids": ["7310001", "7310002"],
    "open_lead_ids": ["7310002"], "created_at": None, "updated_at": "2024-10-27T03:33:20Z", "deleted": False,
    "merged_into": None,
}


@pytest.mark.parametrize("body", [
    # amoCRM API v4: phones in custom_fields_values, the company and deals in _embedded (142 = won, closed)
    amocrm(3180001, "Петров Иван", ["8 916 123-45-67", "+7 (495) 765-43-21"], ["I.Petrov@romashka.ru"],
           updated_at=1730000000, leads=[(7310001, 142), (7310002, 31000001)], companies=[5120001]),
    # the flat shape of the same contact: ids as numbers or strings, time as ISO with an offset
    flat(3180001, "Петров Иван", ["8 916 123-45-67", "+7 (495) 765-43-21"], ["I.Petrov@romashka.ru"],
         updated_at="2024-10-27T06:33:20+03:00", responsible_user_id=504141, company_ids=["5120001"],
         lead_ids=[7310001, "7310002"], open_lead_ids=["7310002"]),
    # no id in the body: the path's id is the record's
    flat(None, "Петров Иван", ["8 916 123-45-67", "+7 (495) 765-43-21"], ["I.Petrov@romashka.ru"],
         updated_at=1730000000, responsible_user_id="504141", company_ids=["5120001"],
         lead_ids=["7310001", "7310002"], open_lead_ids=["7310002"]),
], ids=["amocrm-v4", "flat", "flat-without-id"])
def test_put_stores_the_record_normalized_and_answers_it(api, acme, body):
    response = api.client.put("/v1/contacts/3180001", json=body, headers=acme)

    assert response.status_code == 200, response.text
    assert response.json() == PETROV_OUT
    assert api.client.get("/v1/contacts/3180001", headers=acme).json() == PETROV_OUT


def test_put_company_reads_inn_and_website(api, acme):
    body = flat("5120001", "ООО «Ромашка»", ["+7 (495) 765-43-21"], ["info@romashka.ru"], inn=7707083893,
                website="https://www.romashka.ru/")

    response = api.client.put("/v1/companies/5120001", json=body, headers=acme)

    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in ("entity", "record_id", "name", "phones", "emails")} == {
        "entity": "company", "record_id": "5120001", "name": "ООО «Ромашка»", "phones": ["+74957654321"],
        "emails": ["info@romashka.ru"]}
    # a company is not a contact: the same id under contacts is unknown
    problem(api.client.get("/v1/contacts/5120001", headers=acme), 404)


def test_record_is_checkable_as_soon_as_put_returns(api, acme):
    api.client.put("/v1/contacts/7", json=flat("7", "Петров Иван", ["8 916 123-45-67"], ["I.Petrov@mail.ru"]),
                   headers=acme)

    # the real-time check reads these blocking keys; they are written in the upsert's own transaction
    rows = api.store._execute("SELECT key FROM record_keys WHERE account_id = 'acme' AND record_id = '7'").fetchall()
    assert {r[0] for r in rows} == {"phones:+79161234567", "emails:i.petrov@mail.ru", "name_key:iva pet"}


@pytest.mark.parametrize(("first", "second", "kept"), [
    ("2024-05-02T10:00:00Z", "2024-05-01T10:00:00Z", "Петров Иван Сергеевич"),
    # an equal updated_at is a re-send (or a fix) of the same version: it replaces
    ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z", "Петров И."),
    ("2024-05-01T10:00:00Z", "2024-05-02T10:00:00Z", "Петров И."),
], ids=["older-loses", "equal-replaces", "newer-wins"])
def test_older_update_never_overwrites_newer(api, acme, first, second, kept):
    api.client.put("/v1/contacts/7", json=flat("7", "Петров Иван Сергеевич", updated_at=first), headers=acme)

    response = api.client.put("/v1/contacts/7", json=flat("7", "Петров И.", updated_at=second), headers=acme)

    assert response.status_code == 200
    assert response.json()["name"] == kept


@pytest.mark.parametrize(("path", "body", "field", "reason"), [
    ("/v1/contacts/3180001", flat(7, "Петров Иван"), "id", "id 7 differs from the id in the path, '3180001'"),
    ("/v1/contacts/3180001", amocrm(3180002, "Петров Иван"), "id",
     "id 3180002 differs from the id in the path, '3180001'"),
    # a typo of `phones` is refused, not taken for an amoCRM object and dropped
    ("/v1/contacts/7", flat(None, "Иван", phone="8 916 123-45-67"), "phone", "Extra inputs are not permitted"),
    ("/v1/contacts/7", flat(None, "Иван", phones=[True]), "phones[0]", "expected a string, got a boolean"),
    ("/v1/contacts/7", flat(None, "Иван", updated_at="вчера"), "updated_at",
     "Input should be a valid datetime or date, invalid character in year"),
    ("/v1/contacts/7", flat(None, "Иван", extra={"birthday": ["01.02.1990"]}), "extra.birthday",
     "Input should be a valid string"),
    # amoCRM's own checks name the field path inside the object
    ("/v1/contacts/7", amocrm(None, "Иван", updated_at="2024-05-01"), "updated_at",
     "expected unix seconds (a number), got '2024-05-01'"),
    ("/v1/contacts/abc", amocrm(None, "Иван"), "id", "expected an integer id, got 'abc'"),
    ("/v1/contacts/7", {"name": "Иван", "custom_fields_values": [{"field_code": "PHONE", "values": "8 916"}]},
     "custom_fields_values[0].values", "expected a list, got a string"),
], ids=["flat-other-id", "amocrm-other-id", "typo-key", "bool-phone", "junk-time", "extra-not-text",
        "amocrm-iso-time", "amocrm-non-numeric-id", "amocrm-values-not-list"])
def test_put_refuses_a_bad_body_naming_the_field(api, acme, path, body, field, reason):
    body_out = problem(api.client.put(path, json=body, headers=acme), 422)

    assert body_out["errors"] == [{"index": None, "field": field, "reason": reason}]
    assert api.store.count_records("acme", "contact") == 0


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/v1/leads/7", 404),  # only contacts and companies are entities
    ("PUT", "/v1/contacts/a%20b", 422),  # an id with a space in it
    ("GET", "/v1/contacts/" + "9" * 129, 422),  # longer than any CRM id
], ids=["unknown-entity", "id-with-space", "id-too-long"])
def test_bad_paths_are_problems(api, acme, method, path, status):
    problem(api.client.request(method, path, json=flat(None, "Иван"), headers=acme), status)


# --- batch ---------------------------------------------------------------------------------------------

def test_batch_stores_the_valid_records_and_rejects_each_bad_one_with_index_and_reason(api, acme):
    records = [
        flat("1", "Петров Иван", ["8 916 123-45-67"]),
        flat("2", "Сидорова Анна", phones=[{"value": "8 903"}]),  # an object where a phone goes
        "Иванов Пётр",  # not an object at all
        amocrm(4, "Орлов Сергей", emails=["s.orlov@yandex.ru"]),
        amocrm(None, "Без номера"),  # amoCRM objects carry their id
        flat("6", "Козлов Олег", updated_at="2024-13-01"),
    ]

    response = api.client.post("/v1/contacts:batch", json={"records": records}, headers=acme)

    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 2, "rejected": [
        {"index": 1, "field": "phones[0]", "reason": "Input should be a valid string"},
        {"index": 2, "field": None, "reason": "expected a contact object, got str"},
        {"index": 4, "field": "id", "reason": "missing id"},
        {"index": 5, "field": "updated_at",
         "reason": "Input should be a valid datetime or date, month value is outside expected range of 1-12"},
    ]}
    assert {rid: api.client.get(f"/v1/contacts/{rid}", headers=acme).status_code for rid in "1246"} == {
        "1": 200, "2": 404, "4": 200, "6": 404}
    assert api.client.get("/v1/contacts/4", headers=acme).json()["emails"] == ["s.orlov@yandex.ru"]


def test_batch_with_nothing_valid_is_422_listing_every_item(api, acme):
    records = [flat(None, "Без id"), flat("2") | {"phones": "8 916 123-45-67"}]

    body = problem(api.client.post("/v1/contacts:batch", json={"records": records}, headers=acme), 422)

    assert body["errors"] == [
        {"index": 0, "field": "id", "reason": "missing id"},
        {"index": 1, "field": "phones", "reason": "Input should be a valid list"},
    ]


@pytest.mark.parametrize(("body", "field", "reason"), [
    ({"records": []}, "records", "the batch holds no records"),
    ({"rows": [flat("1", "Иван")]}, "records", "Field required"),
    ({"records": {"1": flat("1", "Иван")}}, "records", "Input should be a valid list"),
], ids=["empty", "no-records-key", "records-not-a-list"])
def test_batch_body_without_a_list_of_records_is_422(api, acme, body, field, reason):
    out = problem(api.client.post("/v1/contacts:batch", json=body, headers=acme), 422)

    assert [(e["field"], e["reason"]) for e in out["errors"]] == [(field, reason)]


def test_batch_over_the_limit_is_422_naming_the_limit_and_stores_nothing(api, acme):
    records = [{"id": str(i)} for i in range(10_001)]

    body = problem(api.client.post("/v1/contacts:batch", json={"records": records}, headers=acme), 422)

    assert body["errors"] == [
        {"index": None, "field": "records", "reason": "at most 10000 records per batch, got 10001"}]
    assert api.store.count_records("acme", "contact") == 0


@pytest.mark.parametrize(("n", "status"), [(3, 200), (4, 422)], ids=["at-limit", "one-over"])
def test_batch_limit_comes_from_settings(make_api, n, status):
    api = make_api(max_batch=3)
    acme = api.account("acme")

    response = api.client.post("/v1/companies:batch", json={"records": [flat(str(i), "ООО «Ромашка»")
                                                                           for i in range(n)]}, headers=acme)

    assert response.status_code == status, response.text
    assert api.store.count_records("acme", "company") == (n if status == 200 else 0)


def test_batch_keeps_the_newest_copy_of_a_repeated_id(api, acme):
    records = [flat("1", "Петров Иван", updated_at=1_700_000_000), flat("1", "Петров Иван Сергеевич",
                                                                        updated_at=1_730_000_000),
               flat("1", "Петров", updated_at=1_600_000_000)]

    api.upsert(acme, records)

    assert api.client.get("/v1/contacts/1", headers=acme).json()["name"] == "Петров Иван Сергеевич"


# --- delete --------------------------------------------------------------------------------------------

def test_delete_marks_the_record_deleted_and_drops_its_check_keys(api, acme):
    api.upsert(acme, [flat("7", "Петров Иван", ["8 916 123-45-67"]), flat("8", "Петров Иван", ["8 916 123-45-67"])])

    first = api.client.delete("/v1/contacts/7", headers=acme)
    again = api.client.delete("/v1/contacts/7", headers=acme)

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == {"entity": "contact", "record_id": "7", "deleted": True}
    assert api.client.get("/v1/contacts/7", headers=acme).json()["deleted"] is True
    assert api.store.count_records("acme", "contact") == 1
    rows = api.store._execute("SELECT DISTINCT record_id FROM record_keys WHERE account_id = 'acme'").fetchall()
    assert rows == [("8",)]


def test_delete_of_an_unknown_record_is_404(api, acme):
    api.upsert(acme, [flat("7", "Петров Иван")])

    body = problem(api.client.delete("/v1/companies/7", headers=acme), 404)

    assert body["detail"] == "no company 7 in this account"
    assert api.client.get("/v1/contacts/7", headers=acme).json()["deleted"] is False


def test_deleted_record_leaves_the_real_time_check(api, acme):
    require_route(api, "POST", "/v1/{entity}/check")
    api.upsert(acme, [flat("7", "Петров Иван", ["8 916 123-45-67"]), flat("8", "Иван Петров", ["+79161234567"])])
    probe = flat(None, "Петров Иван", ["+7 916 123 45 67"])
    before = api.client.post("/v1/contacts/check", json=probe, headers=acme).json()

    api.client.delete("/v1/contacts/7", headers=acme)

    after = api.client.post("/v1/contacts/check", json=probe, headers=acme).json()
    assert [m["record_id"] for m in before["matches"]] == ["7", "8"]
    assert [m["record_id"] for m in after["matches"]] == ["8"]
