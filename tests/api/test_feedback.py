"""POST/GET /v1/feedback: decisions stored durably, suppression at once (groups, duplicates, check), tenancy."""

from __future__ import annotations

import time

import jwt
import pytest

from resolver.groups import mint_group_id
from resolver.store import Store
from tests.api.conftest import (
    ORLOV_GROUP,
    PEOPLE,
    PETROV_GROUP,
    clear_crm_dedup_env,
    flat,
    open_api,
    problem,
    require_route,
)

pytestmark = pytest.mark.both_stores  # the same behaviour on the DuckDB and the PostgreSQL store

SECRET = "amo-integration-secret-" + "k" * 41
AMO_ACCOUNT = "29085955"


def pair(left, right, decision="not_duplicate", **fields):
    return {"entity": "contact", "left_id": left, "right_id": right, "decision": decision, **fields}


def member(group_id, record_id, decision="not_duplicate", **fields):
    return {"entity": "contact", "group_id": group_id, "record_id": record_id, "decision": decision, **fields}


def post(api, headers, body, status=201):
    response = api.client.post("/v1/feedback", json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


def log(api, headers, query=""):
    response = api.client.get(f"/v1/feedback{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def group_members(api, headers):
    """group_id -> record_ids of every group the account is shown."""
    items = api.client.get("/v1/groups?limit=500", headers=headers).json()["items"]
    return {g["group_id"]: g["record_ids"] for g in items}


def duplicate_ids(api, headers, record_id):
    response = api.client.get(f"/v1/contacts/{record_id}/duplicates", headers=headers)
    assert response.status_code == 200, response.text
    return sorted(m["record_id"] for m in response.json()["matches"])


@pytest.fixture(scope="module")
def empty_once(tmp_path_factory):
    """(api, acme headers) of an account with nothing stored, once per module: for requests that store nothing."""
    with pytest.MonkeyPatch.context() as env:
        clear_crm_dedup_env(env)
        apis = open_api(tmp_path_factory.mktemp("feedback") / "api.duckdb")
        api = next(apis)
        yield api, api.account("acme")
        apis.close()


# --- storing ----------------------------------------------------------------------------------------


def test_a_decision_is_stored_as_sent_and_listed(api, acme):
    # ids are stored in order (left < right as text), whatever order the reviewer clicked them in
    body = post(api, acme, pair("402", "401", reviewer="Анна", at="2026-11-24T13:00:00+03:00"))

    expected = {"seq": 1, "entity": "contact", "left_id": "401", "right_id": "402", "decision": "not_duplicate",
                "reviewer": "Анна", "at": "2026-11-24T10:00:00Z", "group_id": None}
    assert body == {"stored": 1, "decisions": [expected]}
    assert log(api, acme) == {"items": [expected], "next_cursor": None}


def test_decisions_are_durable_when_the_answer_comes(tmp_path):
    path = tmp_path / "durable.duckdb"
    apis = open_api(path)
    api = next(apis)
    acme = api.account("acme")
    post(api, acme, {"decisions": [pair("101", "102"), pair("101", "102", "undo", reviewer="Пётр")]})
    apis.close()  # the service stops; a new process opens the file

    with Store(path) as store:
        assert [(d.left_id, d.right_id, d.decision, d.reviewer) for d in store.decisions("acme")] == [
            ("101", "102", "not_duplicate", None), ("101", "102", "undo", "Пётр")]


@pytest.mark.parametrize(
    ("body", "index", "field"),
    [
        (pair("101", "101"), None, "right_id"),
        (pair("101", "102", "maybe"), None, "decision"),
        (pair("", "102"), None, "left_id"),
        (pair("1" * 129, "102"), None, "left_id"),
        (pair("Иван Петров", "102"), None, "left_id"),  # a name pasted for an id: ids have no spaces
        (pair("101", None), None, "right_id"),
        ({**pair("101", "102"), "entity": "contacts"}, None, "entity"),  # the path's plural is not the entity
        ({**pair("101", "102"), "account_id": "globex"}, None, "account_id"),  # the account comes from auth
        (pair("101", "102", at="вчера"), None, "at"),
        (pair("101", "102", reviewer="x" * 129), None, "reviewer"),
        (member(PETROV_GROUP, "103", "undo"), None, "decision"),  # a member decision is yes or no
        ({"decisions": [pair("101", "102"), pair("-", "-")]}, 1, "decisions.1.right_id"),
        ({"decisions": [pair("101", "102"), "101-102"]}, 1, "decisions.1"),
        ({"decisions": []}, None, "decisions"),
        ({"decisions": [pair("101", "102")], "reviewer": "anna"}, None, "reviewer"),
    ],
    ids=["same-record", "unknown-decision", "empty-id", "long-id", "cyrillic-name-as-id", "null-id",
         "plural-entity", "account-in-body", "junk-time", "long-reviewer", "member-undo", "batch-item-same-record",
         "batch-item-not-an-object", "empty-batch", "key-beside-decisions"],
)
def test_bad_input_is_422_naming_the_field_and_stores_nothing(empty_once, body, index, field):
    api, acme = empty_once
    errors = problem(api.client.post("/v1/feedback", json=body, headers=acme), 422)["errors"]

    assert [(e["index"], e["field"]) for e in errors] == [(index, field)]
    assert log(api, acme)["items"] == []


def test_a_batch_larger_than_max_batch_is_refused(make_api):
    api = make_api(max_batch=2)
    acme = api.account("acme")
    errors = problem(api.client.post("/v1/feedback", json={"decisions": [pair("1", "2")] * 3}, headers=acme),
                     422)["errors"]
    assert [e["field"] for e in errors] == ["decisions"]


def test_the_log_is_paged_oldest_first_and_filtered_by_entity(api, acme):
    post(api, acme, {"decisions": [pair("1", "2"), {**pair("5120001", "5120002"), "entity": "company"},
                                   pair("3", "4", "duplicate"), pair("1", "2", "undo")]})

    first = log(api, acme, "?limit=2")
    second = log(api, acme, f"?limit=2&cursor={first['next_cursor']}")
    contacts = log(api, acme, "?entity=contacts")

    assert [d["seq"] for d in first["items"]] == [1, 2]
    assert ([d["seq"] for d in second["items"]], second["next_cursor"]) == ([3, 4], None)
    assert [(d["left_id"], d["decision"]) for d in contacts["items"]] == [
        ("1", "not_duplicate"), ("3", "duplicate"), ("1", "undo")]
    assert [d["entity"] for d in log(api, acme, "?entity=companies")["items"]] == ["company"]
    assert problem(api.client.get("/v1/feedback?cursor=bm90LWEtbnVtYmVy", headers=acme), 422)["errors"][0][
        "field"] == "cursor"


# --- suppression at once ------------------------------------------------------------------------------


def test_rejecting_a_member_splits_it_off_and_keeps_the_rest(api, acme, scanned):
    body = post(api, acme, member(PETROV_GROUP, "103", reviewer="anna"))

    assert [(d["left_id"], d["right_id"], d["group_id"]) for d in body["decisions"]] == [
        ("101", "103", PETROV_GROUP), ("102", "103", PETROV_GROUP)]
    # {101, 102} keeps the group's id (the largest part); 103 is in no group any more; 102 survives (newest)
    assert group_members(api, acme) == {ORLOV_GROUP: ["401", "402"], PETROV_GROUP: ["102", "101"]}
    detail = api.client.get(f"/v1/groups/{PETROV_GROUP}", headers=acme).json()
    assert [m["record_id"] for m in detail["members"]] == ["102", "101"]
    assert [(p["left_id"], p["right_id"]) for p in detail["pairs"]] == [("101", "102")]
    assert (detail["size"], detail["merge_plan"]["merge_ids"]) == (2, ["101"])


@pytest.mark.parametrize(
    ("decisions", "groups", "duplicates_of_101"),
    [
        # the third-record case: 103 links 101 and 102; once they are separated it stays with 101 only
        ([pair("101", "102")], {ORLOV_GROUP: ["401", "402"], PETROV_GROUP: ["101", "103"]}, ["103"]),
        ([pair("401", "402")], {PETROV_GROUP: ["102", "101", "103"]}, ["102", "103"]),
        # a confirmation inside one group changes nothing (they are together already)
        ([pair("101", "102", "duplicate")], {ORLOV_GROUP: ["401", "402"], PETROV_GROUP: ["102", "101", "103"]},
         ["102", "103"]),
    ],
    ids=["third-record-pair", "two-record-group", "confirmation"],
)
def test_groups_and_duplicates_follow_a_decision_without_a_rescan(api, acme, scanned, decisions, groups,
                                                                  duplicates_of_101):
    require_route(api, "get", "/v1/{entity}/{record_id}/duplicates")
    post(api, acme, {"decisions": decisions})

    assert group_members(api, acme) == groups
    assert duplicate_ids(api, acme, "101") == duplicates_of_101


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        # the record the widget is about to save is 102 itself, separated from 101
        (flat("102", "Иван Петров", ["8 916 123 45 67"]), ["103"]),
        # a new record has no decisions: both
        (flat(None, "Иван Петров", ["8 916 123 45 67"]), ["101", "102", "103"]),
    ],
    ids=["probe-with-separated-id", "probe-without-id"],
)
def test_check_leaves_out_records_separated_from_the_probe(api, acme, scanned, probe, expected):
    require_route(api, "post", "/v1/{entity}/check")
    post(api, acme, pair("101", "102"))

    response = api.client.post("/v1/contacts/check", json=probe, headers=acme)

    assert response.status_code == 200, response.text
    assert sorted(m["record_id"] for m in response.json()["matches"]) == expected


def test_rescans_updates_and_undo(api, acme, scanned):
    # the third-record case across a rescan and a record update: 101 and 102 never share a group
    post(api, acme, {"decisions": [pair("101", "102"), pair("401", "402")]})
    api.upsert(acme, [flat("102", "Иван Петров", ["8 916 123 45 67"], ["ivan@petrov.ru"],
                           updated_at="2024-06-01T10:00:00Z")])
    api.scan(acme)
    assert group_members(api, acme) == {PETROV_GROUP: ["101", "103"]}

    # undone: the rescan kept the separated pair's score, so the pair groups again at once, with its old id
    post(api, acme, pair("401", "402", "undo"))
    assert group_members(api, acme) == {ORLOV_GROUP: ["401", "402"], PETROV_GROUP: ["101", "103"]}
    api.scan(acme)
    assert group_members(api, acme) == {ORLOV_GROUP: ["401", "402"], PETROV_GROUP: ["101", "103"]}


@pytest.mark.parametrize(
    ("decisions", "groups"),
    [
        # split off, then undone: 103 is back in its group at once, under the group's id
        ([member(PETROV_GROUP, "103"), pair("101", "103", "undo"), pair("102", "103", "undo")],
         {ORLOV_GROUP: ["401", "402"], PETROV_GROUP: ["102", "101", "103"]}),
        # the third-record case undone on one side only: 103 may join 101 again, never 102 through it
        # (the group had dissolved, so the pair comes back under a new id)
        ([pair("101", "102"), pair("101", "103"), pair("101", "103", "undo")],
         {ORLOV_GROUP: ["401", "402"], mint_group_id("contact", ["101", "103"]): ["101", "103"]}),
        # a pair confirmed across two groups joins them at once, still honouring separations
        ([pair("101", "401", "duplicate")], {PETROV_GROUP: ["102", "101", "103", "401", "402"]}),
    ],
    ids=["member-split-undone", "one-side-undone", "confirmed-across-groups"],
)
def test_undo_and_confirmation_regroup_at_once(api, acme, scanned, decisions, groups):
    for decision in decisions:  # one request each, as a reviewer clicks them
        post(api, acme, decision)
    assert group_members(api, acme) == groups


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (member("ct-000000000000", "101"), 404, None),
        ({**member(PETROV_GROUP, "101"), "entity": "company"}, 404, None),  # a contact group
        (member(PETROV_GROUP, "401"), 422, "record_id"),  # a member of another group
        ({"decisions": [pair("1", "2"), member(PETROV_GROUP, "999")]}, 422, "decisions.1.record_id"),
    ],
    ids=["unknown-group", "wrong-entity", "not-a-member", "not-a-member-in-a-batch"],
)
def test_member_decisions_need_a_member_of_a_group_of_the_account(api, acme, scanned, body, status, field):
    found = problem(api.client.post("/v1/feedback", json=body, headers=acme), status)

    if field:
        assert [e["field"] for e in found["errors"]] == [field]
    assert log(api, acme)["items"] == []
    assert group_members(api, acme) == {ORLOV_GROUP: ["401", "402"], PETROV_GROUP: ["102", "101", "103"]}


# --- who decided, and whose decisions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "reviewer", "expected"),
    [
        ("token", None, "8312"),  # the widget's user, from the token's user_id claim
        ("token", "anna", "8312"),  # the body cannot speak for another amoCRM user: the token's user is recorded
        ("aud-token", "anna", "8312"),  # amoCRM's tokens carry `aud`: the user is still found
        ("key", None, None),  # an API key has no user
        ("key", "anna", "anna"),  # a server-side integration names its reviewer
    ],
    ids=["widget-user", "body-reviewer-ignored", "aud-token", "api-key", "api-key-named-reviewer"],
)
def test_reviewer_is_the_widget_user_or_named_with_a_key(make_api, auth, reviewer, expected):
    api = make_api(jwt_secret=SECRET)
    key_headers = api.account(AMO_ACCOUNT)
    claims = {"account_id": int(AMO_ACCOUNT), "user_id": 8312, "exp": int(time.time()) + 60}
    if auth == "aud-token":
        claims["aud"] = "https://crm-dedup.example.org"
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    headers = key_headers if auth == "key" else {"X-Auth-Token": token}
    body = pair("101", "102") | ({"reviewer": reviewer} if reviewer else {})

    assert post(api, headers, body)["decisions"][0]["reviewer"] == expected


def test_another_account_cannot_see_or_decide_on_a_groups(api, acme, scanned):
    globex = api.account("globex")
    api.upsert(globex, PEOPLE[:2])  # globex holds records 101 and 102 too (ids overlap; other people)
    post(api, acme, pair("401", "402", reviewer="anna"))

    # A's group is unknown to B: 404, never 403, and nothing is stored or split
    problem(api.client.post("/v1/feedback", json=member(PETROV_GROUP, "103"), headers=globex), 404)
    # B's own decision on ids A also holds is B's alone
    post(api, globex, pair("101", "102"))

    assert [(d["left_id"], d["right_id"]) for d in log(api, globex)["items"]] == [("101", "102")]
    assert [(d["left_id"], d["right_id"], d["reviewer"]) for d in log(api, acme)["items"]] == [
        ("401", "402", "anna")]
    assert group_members(api, acme) == {PETROV_GROUP: ["102", "101", "103"]}


@pytest.mark.parametrize(("method", "body"), [("GET", None), ("POST", pair("1", "2"))], ids=["list", "store"])
def test_feedback_refuses_missing_credentials(empty_once, method, body):
    api, _ = empty_once
    problem(api.client.request(method, "/v1/feedback", json=body), 401)


@pytest.mark.parametrize("method", ["get", "post"])
def test_openapi_documents_feedback(empty_once, method):
    api, _ = empty_once
    op = api.client.get("/openapi.json").json()["paths"]["/v1/feedback"][method]

    assert op["summary"]
    assert {"401", "422"} <= set(op["responses"])
    if method == "post":
        assert set(op["requestBody"]["content"]["application/json"]["examples"]) == {"pair", "member", "batch",
                                                                                     "undo"}
        assert "404" in op["responses"]
    # the widget-user lookup reads the auth headers again: they are documented once
    assert [p["name"] for p in op["parameters"] if p["in"] == "header"] == ["authorization", "x-auth-token"]
