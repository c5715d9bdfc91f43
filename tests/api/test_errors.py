"""Every failure is RFC 9457 problem+json: routing, bad bodies, size limits, domain errors, crashes."""

import json
import os
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.app import create_app
from api.limits import BoundedStr, max_field_chars, value_problems
from api.settings import Settings
from resolver.errors import Conflict, InputError, InputProblem, ModelError, NotFound, StoreError

PROBLEM = "application/problem+json"
MAX_BODY = 1_000   # the smallest limits Settings allows, so tests can cross them cheaply
MAX_FIELD = 10
SECRET_DETAIL = "password=hunter2 in /srv/crm-dedup/resolver/store.py"


class Probe(BaseModel):
    name: BoundedStr
    phones: list[BoundedStr] = []


def build_app(tmp_path) -> FastAPI:
    """The real app plus a few throwaway routes that read bodies and fail on purpose."""
    app = create_app(Settings(db=tmp_path / "store.duckdb", max_body_bytes=MAX_BODY, max_field_chars=MAX_FIELD))

    @app.post("/test/probe")
    def probe(body: Probe) -> dict[str, Any]:
        return {"name": body.name, "phones": body.phones, "limit": max_field_chars()}

    @app.post("/test/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}  # reads the body itself, outside FastAPI's parsing

    @app.post("/test/free-form")
    def free_form(body: dict[str, Any]) -> dict[str, str]:
        problems = value_problems(body)
        if problems:
            raise InputError(problems)
        return {"status": "ok"}

    @app.get("/test/crash")
    def crash() -> None:
        raise RuntimeError(SECRET_DETAIL)

    domain_errors = {
        "not-found": NotFound("group g-1 does not exist in this account"),
        "conflict": Conflict("group g-1 was merged already"),
        "model": ModelError("model contact v3 cannot be loaded"),
        "store": StoreError("store var/x.duckdb is locked by another process"),
        "input": InputError([InputProblem("not a phone number", field="phones", item=3),
                             InputProblem("empty name", field="name", item=7)]),
    }

    @app.get("/test/domain/{kind}")
    def domain(kind: str) -> None:
        raise domain_errors[kind]

    return app


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in [n for n in os.environ if n.startswith("CRM_DEDUP_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def client(tmp_path):
    # raise_server_exceptions=False: see the 500 a client sees, not the test client's re-raise
    with TestClient(build_app(tmp_path), raise_server_exceptions=False) as c:
        yield c


def problem_of(response) -> dict[str, Any]:
    assert response.headers["content-type"] == PROBLEM, response.text
    body = response.json()
    assert body["status"] == response.status_code
    assert body["type"] == "about:blank"
    return body


# -- routing -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "status", "title", "detail"), [
    ("GET", "/v2/groups", 404, "Not found", "no such path: /v2/groups"),
    ("GET", "/v1/контакты", 404, "Not found", "no such path: /v1/контакты"),
    ("DELETE", "/healthz", 405, "Method not allowed", "DELETE is not allowed on /healthz"),
    ("POST", "/v1/whoami", 405, "Method not allowed", "POST is not allowed on /v1/whoami"),
], ids=["unknown-path", "cyrillic-path", "delete-healthz", "post-whoami"])
def test_routing_errors_are_problems(client, method, path, status, title, detail):
    response = client.request(method, path)
    body = problem_of(response)
    assert (response.status_code, body["title"], body["detail"]) == (status, title, detail)
    if status == 405:
        assert response.headers["allow"] == "GET"


# -- bodies --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "detail", "errors"), [
    (b'{"name": "Ivan",', "body: not valid JSON: Expecting property name enclosed in double quotes",
     [{"index": None, "field": "body", "reason": "not valid JSON: Expecting property name enclosed in double quotes"}]),
    ("{'name': 'Иван'}".encode(), "body: not valid JSON: Expecting property name enclosed in double quotes",
     [{"index": None, "field": "body", "reason": "not valid JSON: Expecting property name enclosed in double quotes"}]),
    (b'{"phones": []}', "name: Field required", [{"index": None, "field": "name", "reason": "Field required"}]),
    (b'{"name": 42}', "name: Input should be a valid string",
     [{"index": None, "field": "name", "reason": "Input should be a valid string"}]),
    (b'{"name": "Ivan", "phones": ["9161234567", null]}', "phones.1: Input should be a valid string",
     [{"index": 1, "field": "phones.1", "reason": "Input should be a valid string"}]),
], ids=["truncated-json", "single-quotes-cyrillic", "missing-field", "number-for-string", "null-in-list"])
def test_bad_json_body_is_422_naming_the_field(client, content, detail, errors):
    response = client.post("/test/probe", content=content, headers={"Content-Type": "application/json"})
    body = problem_of(response)
    assert (response.status_code, body["title"], body["detail"], body["errors"]) == (
        422, "Invalid input", detail, errors)


def test_body_that_is_not_utf8_is_422_with_the_decoders_reason(client):
    response = client.post("/test/probe", content=b'{"name": "\xff\xfe"}', headers={"Content-Type": "application/json"})
    body = problem_of(response)
    reason = "not valid JSON: 'utf-8' codec can't decode byte 0xff in position 10: invalid start byte"
    assert (response.status_code, body["detail"], body["errors"]) == (
        422, f"body: {reason}", [{"index": None, "field": "body", "reason": reason}])


@pytest.mark.parametrize(("payload", "status", "errors"), [
    ({"name": "Иван Петров"[:MAX_FIELD]}, 200, None),               # 10 characters, 19 bytes: characters count
    ({"name": "А" * MAX_FIELD, "phones": ["8" * MAX_FIELD]}, 200, None),
    ({"name": "x" * (MAX_FIELD + 1)}, 422,
     [{"index": None, "field": "name", "reason": f"String should have at most {MAX_FIELD} characters"}]),
    ({"name": "Иван", "phones": ["9161234567", "8 (916) 123-45-67"]}, 422,
     [{"index": 1, "field": "phones.1", "reason": f"String should have at most {MAX_FIELD} characters"}]),
], ids=["cyrillic-at-limit", "all-at-limit", "name-over-limit", "second-phone-over-limit"])
def test_strings_over_max_field_chars_are_422_naming_the_field(client, payload, status, errors):
    response = client.post("/test/probe", json=payload)
    assert response.status_code == status, response.text
    if errors is None:
        assert response.json() == {"name": payload["name"], "phones": payload.get("phones", []), "limit": MAX_FIELD}
    else:
        assert problem_of(response)["errors"] == errors


@pytest.mark.parametrize(("payload", "errors"), [
    ({"name": "ok", "cf": [{"code": "PHONE", "values": [{"value": "+7 916 123-45-67"}]}]},
     [{"index": None, "field": "cf.0.values.0.value", "reason": "16 characters, at most 10 allowed"}]),
    ({"Примечание" + "!" * 5: "ok", "tags": ["a", "б" * 11]},
     [{"index": None, "field": None, "reason": "a key of 15 characters, at most 10 allowed"},
      {"index": None, "field": "tags.1", "reason": "11 characters, at most 10 allowed"}]),
], ids=["nested-custom-field", "cyrillic-key-and-list"])
def test_long_strings_in_free_form_json_are_all_named(client, payload, errors):
    response = client.post("/test/free-form", json=payload)
    assert response.status_code == 422
    assert problem_of(response)["errors"] == errors


def test_long_string_problems_name_the_amocrm_field_and_batch_index():
    contact = {"name": "Иван", "custom_fields_values": [
        {"field_code": "PHONE", "values": [{"value": "+79161234567", "enum_code": "WORK"}]},
        {"field_code": "EMAIL", "values": [{"value": "ivan.petrov@example.org", "enum_code": "WORK"}]},
    ]}
    problems = value_problems(contact, field="records.4", item=4, max_chars=20)
    assert problems == [InputProblem("23 characters, at most 20 allowed",
                                     field="records.4.custom_fields_values.1.values.0.value", item=4)]


# -- body size -----------------------------------------------------------------------------------------

def json_of_size(size: int) -> bytes:
    """A valid Probe body of exactly `size` bytes (JSON allows trailing whitespace)."""
    body = json.dumps({"name": "Иван"}, ensure_ascii=False).encode()
    return body + b" " * (size - len(body))


@pytest.mark.parametrize(("path", "size", "chunked", "status"), [
    ("/test/probe", MAX_BODY, False, 200),
    ("/test/probe", MAX_BODY + 1, False, 413),
    ("/test/probe", MAX_BODY, True, 200),
    ("/test/probe", MAX_BODY + 1, True, 413),        # no Content-Length: the bytes are counted as read
    ("/test/raw", MAX_BODY + 1, True, 413),          # a route reading the body itself is cut off too
    ("/v1/whoami", MAX_BODY * 50, False, 413),       # refused before auth: no work for a huge body
], ids=["at-limit", "over-limit", "chunked-at-limit", "chunked-over-limit", "raw-reader-chunked", "before-auth"])
def test_body_over_max_body_bytes_is_413(client, path, size, chunked, status):
    body = json_of_size(size)
    content = iter([body[: size // 2], body[size // 2:]]) if chunked else body
    response = client.post(path, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    if status == 413:
        assert problem_of(response) == {"type": "about:blank", "title": "Content too large", "status": 413,
                                        "detail": f"the request body is larger than the limit of {MAX_BODY:,} bytes"}


# -- domain errors and crashes -------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "status", "title", "detail"), [
    ("not-found", 404, "Not found", "group g-1 does not exist in this account"),
    ("conflict", 409, "Conflict", "group g-1 was merged already"),
    ("model", 503, "Model unavailable", "model contact v3 cannot be loaded"),
    ("store", 503, "Store unavailable", "store var/x.duckdb is locked by another process"),
    ("input", 422, "Invalid input", "item 3, field phones: not a phone number (and 1 more problem)"),
], ids=["not-found", "conflict", "model", "store", "input"])
def test_domain_errors_map_to_one_status_each(client, kind, status, title, detail):
    response = client.get(f"/test/domain/{kind}")
    body = problem_of(response)
    assert (response.status_code, body["title"], body["detail"]) == (status, title, detail)
    if kind == "input":
        assert body["errors"] == [{"index": 3, "field": "phones", "reason": "not a phone number"},
                                  {"index": 7, "field": "name", "reason": "empty name"}]


def test_unexpected_exception_is_500_problem_without_internals(client, caplog):
    response = client.get("/test/crash")
    assert problem_of(response) == {"type": "about:blank", "title": "Internal error", "status": 500,
                                    "detail": "the server failed to answer; the error is logged"}
    assert "Traceback" not in response.text and "hunter2" not in response.text
    # the operator still gets the whole story, in the log
    logged = [r for r in caplog.records if r.name == "api.errors"]
    assert [(r.levelname, r.exc_info[1].args[0]) for r in logged] == [("ERROR", SECRET_DETAIL)]
