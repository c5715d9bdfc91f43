"""The check and duplicates answers, written by orjson from plain dicts (api/fastjson.py): exactly the
shapes their response models declare, and bad input still refused in problem+json."""

from __future__ import annotations

import pytest

from api.schemas import CheckOut, DuplicatesOut
from tests.api.conftest import PEOPLE, flat, problem

pytestmark = pytest.mark.both_stores


@pytest.fixture
def stored(api, acme):
    api.upsert(acme, PEOPLE)
    return acme


def test_a_check_answers_the_declared_shape_with_its_explanation(api, stored):
    response = api.client.post("/v1/contacts/check", json=flat(None, "Иван Петров", ["+7 916 123 45 67"]),
                               headers=stored)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == CheckOut.model_validate(body).model_dump(mode="json")  # no field more, none less
    assert {m["record_id"] for m in body["matches"]} >= {"101", "102"}
    best = body["matches"][0]
    assert 0 < best["match_probability"] <= 1 and best["match_probability"] >= body["threshold"]
    assert best["explanation"] and all(set(c) == {"field", "level", "gamma", "match_weight"}
                                       and isinstance(c["gamma"], int) for c in best["explanation"])


def test_duplicates_of_a_stored_record_answer_the_declared_shape(api, stored):
    response = api.client.get("/v1/contacts/101/duplicates", headers=stored)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == DuplicatesOut.model_validate(body).model_dump(mode="json")
    assert body["record_id"] == "101" and "102" in {m["record_id"] for m in body["matches"]}
    problem(api.client.get("/v1/contacts/999/duplicates", headers=stored), 404)


def test_a_check_with_no_match_answers_an_empty_list(api, stored):
    body = api.client.post("/v1/contacts/check", json=flat(None, "Зинаида Кукушкина", ["+7 999 765 43 21"]),
                           headers=stored).json()
    assert body["matches"] == [] and body["model_version"]


@pytest.mark.parametrize("payload, field", [
    ({"name": "Иван", "phones": [{"value": "+7 916 123 45 67"}]}, "phones[0]"),
    ({"name": "x" * 5000}, "name"),
], ids=["phone-not-text", "name-too-long"])
def test_bad_input_is_still_a_problem(api, stored, payload, field):
    found = problem(api.client.post("/v1/contacts/check", json=payload, headers=stored), 422)
    assert field in str(found)


def test_a_body_that_is_not_an_object_or_not_json_is_a_problem(api, stored):
    problem(api.client.post("/v1/contacts/check", json=["Иван"], headers=stored), 422)
    as_json = {**stored, "Content-Type": "application/json"}
    problem(api.client.post("/v1/contacts/check", content=b"{not json", headers=as_json), 422)
    problem(api.client.post("/v1/contacts/check", content=b"{" + b" " * 70_000 + b"}", headers=as_json), 413)
