"""Limits where the input arrives: field and list lengths in every request model, storable text only,
per-route body limits, credentials before the body, one bad batch item rejected alone.

In-process (TestClient) where only the answer matters; a real `crm-dedup serve` (tests/servers.py)
where reading, blocking and memory matter: what the server did with a body it was sent.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest

from api.limits import MAX_DEPTH, VALUES_PER_RECORD, value_problems
from api.settings import Settings
from tests.api.conftest import PROBLEM, amocrm, flat, problem
from tests.servers import clean_env, crm_dedup, served

LIMIT = Settings().max_field_chars  # 2,000
LONG = "Щ" * 3_000  # 3,000 characters (6,000 bytes): over the character limit, well under 64 KB
MB = 1_000_000
SURROGATE = "Иван \ud800"  # JSON can carry it (\ud800); UTF-8, so the store, cannot
TOO_LONG = f"3000 characters, at most {LIMIT} allowed"
MANY = "1001 entries, at most 1000 allowed"
PYDANTIC_SURROGATE = "Input should be a valid string, unable to parse raw data as a unicode string"


def raw_json(value: Any) -> bytes:
    """JSON with non-ASCII escaped, so that a lone surrogate travels as `\\ud800` (as a client would send it)."""
    return json.dumps(value, ensure_ascii=True).encode()


def send(api, method: str, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return api.client.request(method, path, content=raw_json(body),
                              headers=headers | {"Content-Type": "application/json"})


def pair(**fields: Any) -> dict[str, Any]:
    return {"entity": "contact", "left_id": "1", "right_id": "2", "decision": "not_duplicate"} | fields


# -- field lengths: every request model -------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "body", "field", "reason"), [
    ("PUT", "/v1/contacts/1", flat("1", LONG), "name", TOO_LONG),
    ("PUT", "/v1/contacts/1", flat("1", "Иван", emails=[LONG]), "emails[0]", TOO_LONG),
    ("PUT", "/v1/contacts/1", flat("1", "Иван", extra={"note": LONG}), "extra.note", TOO_LONG),
    ("PUT", "/v1/contacts/1", flat("1", "Иван", phones=[int("7" * 2_001)]), "phones[0]",
     f"a number of more than {LIMIT} digits"),
    ("PUT", "/v1/contacts/1", amocrm(1, LONG), "name", TOO_LONG),
    ("PUT", "/v1/contacts/1", amocrm(1, "Иван") | {"first_name": LONG}, "first_name", TOO_LONG),
    ("PUT", "/v1/contacts/1", amocrm(1, "Иван", phones=[LONG]), "custom_fields_values[0].values[0].value",
     TOO_LONG),
    ("PUT", "/v1/companies/1", amocrm(1, "ООО Ромашка") | {"_links": {"self": {"href": LONG}}}, "_links.self.href",
     TOO_LONG),  # a key we do not read is stored as received (Record.raw): it is held to the same rule
    ("POST", "/v1/contacts/check", flat(None, LONG), "name", TOO_LONG),
    ("POST", "/v1/contacts/check", amocrm(None, "Иван", emails=[LONG]), "custom_fields_values[0].values[0].value",
     TOO_LONG),
    ("POST", "/v1/feedback", pair(reviewer=LONG), "reviewer", "String should have at most 128 characters"),
    ("POST", "/v1/feedback", {"decisions": [pair(), pair(reviewer=LONG)]}, "decisions.1.reviewer",
     "String should have at most 128 characters"),
], ids=["flat-name", "flat-email", "flat-extra", "flat-number-as-phone", "amocrm-name", "amocrm-first-name",
        "amocrm-custom-field", "amocrm-unread-key", "check-flat", "check-amocrm", "feedback", "feedback-list"])
def test_a_string_over_the_limit_is_422_naming_the_field(api, acme, method, path, body, field, reason):
    errors = problem(send(api, method, path, body, acme), 422)["errors"]
    assert [(e["field"], e["reason"]) for e in errors] == [(field, reason)]
    assert api.client.get("/v1/contacts/1", headers=acme).status_code == 404  # nothing stored


@pytest.mark.parametrize("path", ["/v1/contacts:batch", "/v1/contacts/check:batch"])
def test_a_long_string_rejects_its_batch_item_only(api, acme, path):
    rows = [flat("1", "Иван Петров", ["+7 916 123-45-67"]), flat("2", LONG), amocrm(3, "Анна", emails=[LONG]),
            flat("4", "Анна Орлова")]
    answer = send(api, "POST", path, {"records": rows}, acme)
    assert answer.status_code == 200, answer.text
    assert [(r["index"], r["field"], r["reason"]) for r in answer.json()["rejected"]] == [
        (1, "name", TOO_LONG), (2, "custom_fields_values[0].values[0].value", TOO_LONG)]
    if path.endswith(":batch") and "check" not in path:
        assert answer.json()["stored"] == 2
        stored = [api.client.get(f"/v1/contacts/{i}", headers=acme).status_code for i in "1234"]
        assert stored == [200, 404, 404, 200]
    else:
        assert [r["index"] for r in answer.json()["results"]] == [0, 3]


@pytest.mark.parametrize("path", ["/v1/contacts:batch", "/v1/contacts/check:batch"])
def test_a_batch_of_only_bad_items_is_422_listing_them(api, acme, path):
    body = problem(send(api, "POST", path, {"records": [flat("1", LONG)]}, acme), 422)
    assert body["errors"] == [{"index": 0, "field": "name", "reason": TOO_LONG}]


def test_a_megabyte_name_in_a_batch_item_rejects_that_item_and_stores_the_rest(api, acme):
    rows = [flat(str(i), f"Контакт {i}", [f"+7 916 000-00-{i:02d}"]) for i in range(20)]
    rows[7]["name"] = "Ж" * MB
    answer = send(api, "POST", "/v1/contacts:batch", {"records": rows}, acme)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": 19, "rejected": [
        {"index": 7, "field": "name", "reason": f"{MB} characters, at most {LIMIT} allowed"}]}


# -- storable text: lone surrogates and NUL ------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "body", "field", "reason"), [
    ("PUT", "/v1/contacts/1", flat("1", SURROGATE), "name",
     "a lone surrogate U+D800 at character 5: not Unicode text (surrogates come in pairs)"),
    ("PUT", "/v1/contacts/1", flat("1", "Иван", emails=["a\x00@b.ru"]), "emails[0]",
     "a NUL character (U+0000) at character 1: not text"),
    ("PUT", "/v1/contacts/1", flat("1", "Иван", extra={"\udc00": "x"}), "extra",
     "a key with a lone surrogate U+DC00 at character 0: not Unicode text (surrogates come in pairs)"),
    ("PUT", "/v1/contacts/1", amocrm(1, "Иван", phones=["\udfff+7 916"]), "custom_fields_values[0].values[0].value",
     "a lone surrogate U+DFFF at character 0: not Unicode text (surrogates come in pairs)"),
    ("POST", "/v1/contacts/check", flat(None, SURROGATE), "name",
     "a lone surrogate U+D800 at character 5: not Unicode text (surrogates come in pairs)"),
    # pydantic's own string check refuses it first in the typed models (ids, reviewer)
    ("POST", "/v1/feedback", pair(reviewer=SURROGATE), "reviewer", PYDANTIC_SURROGATE),
    ("POST", "/v1/feedback", pair(left_id="1\ud800"), "left_id", PYDANTIC_SURROGATE),
    ("POST", "/v1/feedback", {"decisions": [pair(), pair(group_id="\udbff")]}, "decisions.1.group_id",
     PYDANTIC_SURROGATE),
], ids=["flat-name", "flat-email-nul", "flat-extra-key", "amocrm-phone", "check", "feedback-reviewer",
        "feedback-id", "feedback-list-group"])
def test_text_the_store_cannot_hold_is_422_naming_the_field(api, acme, method, path, body, field, reason):
    errors = problem(send(api, method, path, body, acme), 422)["errors"]
    assert [(e["field"], e["reason"]) for e in errors] == [(field, reason)]


def test_a_lone_surrogate_rejects_one_item_of_a_large_batch_and_the_rest_is_stored(api, acme):
    n = 2_000  # the finding was a 10k batch; any size shows the rule, this one keeps the suite quick
    rows = [flat(str(i), f"Контакт {i}", [f"+7 916 {i:07d}"]) for i in range(n)]
    rows[1234]["emails"] = ["x\ud83d@mail.ru"]  # half of an emoji's UTF-16 pair
    answer = send(api, "POST", "/v1/contacts:batch", {"records": rows}, acme)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": n - 1, "rejected": [
        {"index": 1234, "field": "emails[0]",
         "reason": "a lone surrogate U+D83D at character 1: not Unicode text (surrogates come in pairs)"}]}
    assert [api.client.get(f"/v1/contacts/{i}", headers=acme).status_code for i in (0, 1233, 1234, n - 1)] == [
        200, 200, 404, 200]


def test_emoji_and_right_to_left_text_are_text(api, acme):
    body = flat("1", "\u202eнавИ 😀", emails=["😀@почта.рф"])
    answer = send(api, "PUT", "/v1/contacts/1", body, acme)
    assert (answer.status_code, answer.json()["name"]) == (200, "\u202eнавИ 😀")


# -- lists, depth and ids inside one record ------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field", "reason"), [
    (flat("1", "Иван", phones=[f"+7 916 {i:07d}" for i in range(1_001)]), "phones", MANY),
    (amocrm(1, "Иван", leads=[(i, 142) for i in range(1_001)]), "_embedded.leads", MANY),
    (amocrm(1, "Иван") | {"custom_fields_values": [{"field_id": 1, "values": [{"value": "x"}] * 1_001}]},
     "custom_fields_values[0].values", MANY),
    (amocrm(1, "Иван") | {"_links": {f"k{i}": i for i in range(1_001)}}, "_links", MANY),
    (amocrm(1, "Иван") | {"_links": json.loads("[" * 40 + "]" * 40)}, "_links" + "[0]" * (MAX_DEPTH - 1),
     f"nested more than {MAX_DEPTH} levels deep"),
    (amocrm(int("9" * 300), "Иван"), "id", "an id of 300 characters, at most 128 allowed"),
    (amocrm(1, "Иван", companies=["5" * 200]), "_embedded.companies", "an id of 200 characters, at most 128 allowed"),
], ids=["flat-phones", "amocrm-leads", "amocrm-values", "amocrm-object", "depth", "amocrm-id", "amocrm-company-id"])
def test_a_record_cannot_carry_huge_lists_deep_trees_or_long_ids(api, acme, body, field, reason):
    # sent as a batch of one (an id of 300 digits cannot be a path); a batch with nothing valid is 422
    errors = problem(send(api, "POST", "/v1/contacts:batch", {"records": [body]}, acme), 422)["errors"]
    assert [(e["index"], e["field"], e["reason"]) for e in errors] == [(0, field, reason)]


def test_value_problems_lists_at_most_twenty_in_linear_time():
    many = {f"f{i}": "x" * 11 for i in range(500)}
    problems = value_problems(many, max_chars=10, max_items=1_000)
    assert len(problems) == 20 and problems[0].field == "f0"


@pytest.mark.parametrize("path", [
    f"/v1/contacts/{'7' * 3_000}",
    f"/v1/contacts/{'7' * 3_000}/duplicates",
    f"/v1/feedback?cursor={'x' * 3_000}",
    f"/v1/groups?cursor={'x' * 3_000}",
    f"/v1/groups/{'g' * 3_000}",
], ids=["record-id", "duplicates-id", "feedback-cursor", "groups-cursor", "group-id"])
def test_long_ids_and_cursors_in_the_url_are_422(api, acme, path):
    assert problem(api.client.get(path, headers=acme), 422)["errors"][0]["reason"].startswith(
        "String should have at most")


# -- body limits per route -------------------------------------------------------------------------------------

def padded(body: dict[str, Any], size: int) -> bytes:
    """`body` as JSON of exactly `size` bytes (JSON allows trailing whitespace)."""
    raw = raw_json(body)
    return raw + b" " * (size - len(raw))


RECORD_BODY_LIMIT = Settings().max_record_body_bytes
ONE_RECORD_ROUTES = [("PUT", "/v1/contacts/1", flat("1", "Иван")),
                     ("POST", "/v1/contacts/check", flat(None, "Иван")),
                     ("POST", "/v1/groups/ct-000000000000/merged", {"survivor_id": "1", "absorbed_ids": ["2"]}),
                     ("POST", "/v1/jobs/scan", {"entity": "contact"})]


@pytest.mark.parametrize(("method", "path", "body"), ONE_RECORD_ROUTES, ids=["put", "check", "merged", "scan"])
@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_a_100_kb_body_to_a_one_record_route_is_413(api, acme, method, path, body, chunked):
    content = padded(body, 100_000)
    sent: bytes | Iterator[bytes] = iter([content[:50_000], content[50_000:]]) if chunked else content
    response = api.client.request(method, path, content=sent, headers=acme | {"Content-Type": "application/json"})
    assert problem(response, 413)["detail"] == (
        f"the request body is larger than the limit of {RECORD_BODY_LIMIT:,} bytes")


def test_a_batch_route_takes_a_body_over_the_record_limit(api, acme):
    rows = [flat(str(i), f"Контакт {i}") for i in range(3_000)]
    body = raw_json({"records": rows})
    assert len(body) > RECORD_BODY_LIMIT
    response = api.client.post("/v1/contacts:batch", content=body, headers=acme | {"Content-Type": "application/json"})
    assert (response.status_code, response.json()["stored"]) == (200, 3_000)


@pytest.mark.parametrize(("size", "status"), [(2_000, 200), (2_001, 413)])
def test_the_record_body_limit_comes_from_settings(make_api, size, status):
    api = make_api(max_record_body_bytes=2_000)
    key = api.account("acme")
    response = api.client.put("/v1/contacts/1", content=padded(flat("1", "Иван"), size),
                              headers=key | {"Content-Type": "application/json"})
    assert response.status_code == status, response.text


def test_max_record_body_bytes_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("CRM_DEDUP_MAX_RECORD_BODY_BYTES", "4096")
    monkeypatch.setenv("CRM_DEDUP_MAX_LIST_ITEMS", "50")
    assert (Settings().max_record_body_bytes, Settings().max_list_items) == (4_096, 50)


@pytest.mark.parametrize(("rows", "status"), [
    ([amocrm(i, f"Контакт {i}", [f"+7 916 {i:07d}"], [f"c{i}@mail.ru"], leads=[(7, 142)]) for i in range(10)], 200),
    ([[0] * 3_001], 413),  # 3,001 values where 10 records may hold 3,000 (VALUES_PER_RECORD 300 each)
], ids=["ten-amocrm-records", "a-list-of-zeros"])
def test_a_batch_body_may_hold_at_most_300_json_values_a_record(make_api, rows, status):
    api = make_api(max_batch=10)
    response = api.client.post("/v1/contacts:batch", json={"records": rows}, headers=api.account("acme"))
    assert response.status_code == status, response.text
    if status == 413:
        assert problem(response, 413)["detail"] == (
            f"the request body holds more than {10 * VALUES_PER_RECORD:,} JSON values (at most 300 a record on "
            "average)")


def test_an_unauthenticated_body_is_401_and_an_unknown_key_too(api):
    body = raw_json({"records": [flat("1", "Иван")]})
    for headers, detail in [({}, "send `Authorization: Bearer <API key>` or the widget's X-Auth-Token"),
                            ({"Authorization": "Bearer cdk_stolen"}, "unknown API key")]:
        response = api.client.post("/v1/contacts:batch", content=body,
                                   headers=headers | {"Content-Type": "application/json"})
        assert problem(response, 401)["detail"] == detail
        assert response.headers["www-authenticate"].startswith('Bearer realm="crm-dedup"')


# -- a real server: what it reads, and whether it keeps answering ------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, dict[str, str], int]]:
    """(base URL, acme's headers, process id) of a real `crm-dedup serve` on a fresh store."""
    tmp = tmp_path_factory.mktemp("limits")
    env, db = clean_env(), tmp / "store.duckdb"
    created = crm_dedup("accounts", "create", "acme", "--db", str(db), env=env, cwd=tmp)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    with served(db, env=env, cwd=tmp) as running:
        yield running.url, {"Authorization": f"Bearer {key}"}, running.process.pid


def open_request(url: str, method: str, path: str, headers: dict[str, str]) -> socket.socket:
    """A socket that has sent a request's head and nothing of its body yet."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    return sock


def response_of(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, Any]]:
    """(status, headers, JSON body) of the answer on `sock`, read as it comes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65_536)
        assert chunk, f"the server closed the connection without answering: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    while len(rest) < int(headers["content-length"]):
        rest += sock.recv(65_536)
    return int(lines[0].split()[1]), headers, json.loads(rest)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


@pytest.mark.timeout(120)
def test_an_unauthenticated_40_mb_upload_is_refused_before_its_body_is_read(server):
    url, _, pid = server
    before = rss(pid)
    sock = open_request(url, "POST", "/v1/contacts:batch", {"Transfer-Encoding": "chunked"})
    with sock:
        sock.sendall(chunk(b'{"records": [' + b" " * 65_000))  # the first 64 KB of 40 MB
        # the answer comes while the client still has 40 MB to send: the server did not wait for them
        status, headers, body = response_of(sock)
        piece = chunk(b" " * MB)
        try:  # the rest is sent anyway; the server may discard it or close the connection
            for _ in range(40):
                sock.sendall(piece)
        except OSError:
            pass
    assert (status, headers["content-type"], body["detail"]) == (
        401, PROBLEM, "send `Authorization: Bearer <API key>` or the widget's X-Auth-Token")
    assert headers["www-authenticate"] == 'Bearer realm="crm-dedup"'
    assert rss(pid) - before < 20 * MB  # 40 MB were sent; reading them would have kept them (and more)
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200


@pytest.mark.timeout(120)
@pytest.mark.parametrize("transfer", ["declared", "chunked"])
def test_a_30_mb_body_to_check_is_413_before_it_is_sent_and_healthz_answers_meanwhile(server, transfer):
    url, acme, _ = server
    framing = {"Content-Length": str(30 * MB)} if transfer == "declared" else {"Transfer-Encoding": "chunked"}
    sock = open_request(url, "POST", "/v1/contacts/check", acme | framing)
    with sock:
        if transfer == "chunked":  # no length to judge by: the server counts, and stops at 64 KB
            sock.sendall(chunk(b'{"name": "' + b"x" * 100_000))
        # the body is far from sent (none of it, or 100 KB of 30 MB) and the server has answered
        healthz = httpx.get(f"{url}/healthz", timeout=10)
        status, headers, body = response_of(sock)
    assert (status, headers["content-type"], body["detail"]) == (
        413, PROBLEM, f"the request body is larger than the limit of {RECORD_BODY_LIMIT:,} bytes")
    assert healthz.status_code == 200


@pytest.mark.timeout(300)
def test_healthz_keeps_answering_while_a_big_batch_is_processed(server):
    url, acme, _ = server
    rows = [flat(f"b{i}", f"Иван Петров {i}", [f"+7 916 {i:07d}"], [f"ivan{i}@mail.ru"]) for i in range(4_000)]
    answers: list[httpx.Response] = []
    batch = threading.Thread(target=lambda: answers.append(
        httpx.post(f"{url}/v1/contacts:batch", json={"records": rows}, headers=acme, timeout=240)))
    batch.start()
    health = []
    while batch.is_alive():
        health.append(httpx.get(f"{url}/healthz", timeout=10).status_code)  # raises if the server stalls
    batch.join()
    assert answers[0].status_code == 200 and answers[0].json()["stored"] == 4_000, answers[0].text
    assert health and set(health) == {200}


@pytest.mark.timeout(120)
def test_a_48_mb_batch_of_tiny_values_is_413_without_being_parsed(server):
    url, acme, pid = server
    before = rss(pid)
    body = b'{"records": [' + b",".join([b"0"] * 24 * MB) + b"]}"  # parsing it held the server for 5 s
    response = httpx.post(f"{url}/v1/contacts:batch", content=body, headers=acme | {"Content-Type": "application/json"},
                          timeout=60)
    assert problem(response, 413)["detail"].startswith("the request body holds more than 3,000,000 JSON values")
    # stopped at the budget: the 48 MB were never held, let alone parsed (24 M list slots: 190 MB)
    assert rss(pid) - before < 50 * MB
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200


def one_mb(body: Any, key: str) -> Any:
    """`body` with its `key` (a dotted path) set to a 1 MB string."""
    target = body
    *parents, last = key.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[last] = "7" * MB
    return body


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("method", "path", "body", "key", "status"), [
    ("PUT", "/v1/contacts/m1", flat("m1", "Иван"), "name", 413),
    ("PUT", "/v1/companies/m1", flat("m1", "ООО Ромашка"), "inn", 413),
    ("POST", "/v1/contacts/check", flat(None, "Иван"), "name", 413),
    ("POST", "/v1/companies/check", amocrm(None, "ООО Ромашка"), "name", 413),
    ("POST", "/v1/contacts:batch", {"records": [flat("m1", "Иван")]}, "records.0.name", 422),
    ("POST", "/v1/companies:batch", {"records": [amocrm(1, "Ромашка", phones=["1"])]},
     "records.0.custom_fields_values.0.values.0.value", 422),
    ("POST", "/v1/contacts/check:batch", {"records": [flat(None, "Иван")]}, "records.0.name", 422),
    ("POST", "/v1/feedback", pair(), "reviewer", 422),
    ("POST", "/v1/feedback", {"decisions": [pair()]}, "decisions.0.left_id", 422),
    ("POST", "/v1/groups/ct-000000000000/merged", {"survivor_id": "1", "absorbed_ids": ["2"]}, "survivor_id", 413),
    ("POST", "/v1/jobs/scan", {"entity": "contact"}, "entity", 413),
], ids=["put-contact", "put-company-inn", "check", "check-amocrm", "batch", "batch-amocrm", "check-batch",
        "feedback", "feedback-list", "merged", "scan"])
def test_every_write_and_check_endpoint_answers_a_1_mb_value_with_a_4xx_problem(server, method, path, body, key,
                                                                              status):
    url, acme, _ = server
    response = httpx.request(method, f"{url}{path}", json=one_mb(body, key), headers=acme, timeout=60)
    assert (response.status_code, response.headers["content-type"]) == (status, PROBLEM), response.text[:300]
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
