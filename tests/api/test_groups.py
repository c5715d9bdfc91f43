"""Groups over the API: sorted, filtered and paginated lists, one group explained, merges the widget reports."""

import pytest

from tests.api.conftest import ORLOV, ORLOV_GROUP, PETROV_GROUP, flat, problem, require_route

pytestmark = pytest.mark.both_stores  # the same behaviour on the DuckDB and the PostgreSQL store


def listing(api, headers, query=""):
    response = api.client.get(f"/v1/groups{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_groups_are_listed_best_first_with_members_survivor_first(scanned_once):
    api, acme = scanned_once
    page = listing(api, acme)

    assert page["next_cursor"] is None
    assert [(g["group_id"], g["record_ids"], g["survivor_id"], g["size"], g["status"], g["entity"])
            for g in page["items"]] == [
        # one name and one email: no reason to look first; 401 survives as the lowest id (no dates)
        (ORLOV_GROUP, ["401", "402"], "401", 2, "open", "contact"),
        # 102 survives: the most recently updated
        (PETROV_GROUP, ["102", "101", "103"], "102", 3, "open", "contact"),
    ]
    orlov, petrov = page["items"]
    assert orlov["group_score"] > petrov["group_score"]
    assert (orlov["needs_review"], orlov["review_reasons"]) == (False, [])
    assert (petrov["needs_review"], petrov["review_reasons"]) == (
        True, ["101 and 103 are linked only by a shared phone"])


def test_pages_follow_the_cursor_to_the_end(scanned_once):
    api, acme = scanned_once
    first = listing(api, acme, "?limit=1")
    second = listing(api, acme, f"?limit=1&cursor={first['next_cursor']}")

    assert [g["group_id"] for g in first["items"]] == [ORLOV_GROUP]
    assert [g["group_id"] for g in second["items"]] == [PETROV_GROUP]
    assert second["next_cursor"] is None
    assert first["items"] + second["items"] == listing(api, acme)["items"]


@pytest.mark.parametrize(("query", "groups"), [
    ("?entity=contacts", [ORLOV_GROUP, PETROV_GROUP]),
    ("?entity=companies", []),
    ("?needs_review=true", [PETROV_GROUP]),
    ("?needs_review=false", [ORLOV_GROUP]),
    ("?status=open", [ORLOV_GROUP, PETROV_GROUP]),
    ("?status=merged", []),
    ("?min_score=0.999", [ORLOV_GROUP]),
    ("?min_score=0&needs_review=false&status=open&entity=contacts", [ORLOV_GROUP]),
], ids=["contacts", "companies", "needs-review", "safe", "open", "merged", "min-score", "all-filters"])
def test_filters_pick_groups(scanned_once, query, groups):
    api, acme = scanned_once
    assert [g["group_id"] for g in listing(api, acme, query)["items"]] == groups


@pytest.mark.parametrize(("query", "field"), [
    ("?limit=0", "limit"),
    ("?limit=501", "limit"),
    ("?min_score=1.5", "min_score"),
    ("?status=closed", "status"),
    ("?entity=leads", "entity"),
    ("?needs_review=может", "needs_review"),
    ("?cursor=не-курсор", "cursor"),
    ("?cursor=WzEsIDJd", "cursor"),  # base64 of [1, 2]: JSON, but not a (score, group id)
], ids=["limit-0", "limit-501", "score-over-1", "unknown-status", "unknown-entity", "junk-bool", "junk-cursor",
        "foreign-cursor"])
def test_bad_list_queries_are_422_naming_the_parameter(scanned_once, query, field):
    api, acme = scanned_once
    body = problem(api.client.get(f"/v1/groups{query}", headers=acme), 422)

    assert [e["field"] for e in body["errors"]] == [field]


def test_group_detail_explains_every_pair_and_plans_the_merge(scanned_once):
    api, acme = scanned_once
    response = api.client.get(f"/v1/groups/{PETROV_GROUP}", headers=acme)

    assert response.status_code == 200, response.text
    group = response.json()
    assert {k: group[k] for k in ("group_id", "entity", "size", "status", "survivor_id", "needs_review")} == {
        "group_id": PETROV_GROUP, "entity": "contact", "size": 3, "status": "open", "survivor_id": "102",
        "needs_review": True}
    assert group["members"] == [
        {"record_id": "102", "name": "Иван Петров", "phones": ["+79161234567"], "emails": [], "is_survivor": True,
         "merged_into": None, "deleted": False},
        {"record_id": "101", "name": "Петров Иван", "phones": ["+79161234567"], "emails": [], "is_survivor": False,
         "merged_into": None, "deleted": False},
        # the call record: its name is no name, the phone it names is its phone
        {"record_id": "103", "name": "Новый контакт по звонку с +79161234567 из UIS", "phones": ["+79161234567"],
         "emails": [], "is_survivor": False, "merged_into": None, "deleted": False},
    ]
    assert {(p["left_id"], p["right_id"]) for p in group["pairs"]} == {("101", "102"), ("101", "103"), ("102", "103")}
    for pair in group["pairs"]:
        assert [c["field"] for c in pair["contributions"]] == ["name", "phone", "email", "patronymic", "company"]
        assert 0 < pair["match_probability"] <= 1
        assert pair["match_probability"] >= group["group_score"]
    phone = {c["field"]: c for c in group["pairs"][0]["contributions"]}["phone"]
    assert phone["match_weight"] > 0
    assert group["merge_plan"] == {
        "survivor_id": "102", "survivor_reason": "most recently updated", "merge_ids": ["101", "103"],
        "responsible_user_id": None, "lead_ids": [], "company_ids": [],
        "keep": {"name": "Иван Петров", "phones": ["+79161234567"], "emails": []}}


def test_unknown_group_is_404(scanned_once):
    api, acme = scanned_once
    body = problem(api.client.get("/v1/groups/ct-000000000000", headers=acme), 404)

    assert body["detail"] == "no group ct-000000000000 in this account"


# --- merges --------------------------------------------------------------------------------------------

def merge(api, headers, group_id, survivor_id, absorbed_ids):
    return api.client.post(f"/v1/groups/{group_id}/merged", json={"survivor_id": survivor_id,
                                                                   "absorbed_ids": absorbed_ids}, headers=headers)


def test_merge_marks_absorbed_records_and_they_leave_all_results(api, acme, scanned):
    response = merge(api, acme, PETROV_GROUP, "101", ["102", "103"])  # the widget kept another survivor

    assert response.status_code == 200, response.text
    assert response.json() == {"group_id": PETROV_GROUP, "entity": "contact", "status": "merged",
                               "survivor_id": "101", "absorbed_ids": ["102", "103"]}
    assert [g["group_id"] for g in listing(api, acme, "?status=open")["items"]] == [ORLOV_GROUP]
    assert [(g["group_id"], g["survivor_id"], g["record_ids"]) for g in listing(api, acme, "?status=merged")["items"]] \
        == [(PETROV_GROUP, "101", ["101", "102", "103"])]
    detail = api.client.get(f"/v1/groups/{PETROV_GROUP}", headers=acme).json()
    assert [(m["record_id"], m["is_survivor"], m["merged_into"]) for m in detail["members"]] == [
        ("101", True, None), ("102", False, "101"), ("103", False, "101")]
    assert api.client.get("/v1/contacts/102", headers=acme).json()["merged_into"] == "101"

    # a rescan does not see the absorbed records: the survivor has no group left
    job = api.scan(acme)
    assert job["result"]["records"] == 7
    assert [set(g["record_ids"]) for g in listing(api, acme)["items"]] == [set(ORLOV)]


def test_a_reimported_absorbed_record_stays_merged(api, acme, scanned):
    merge(api, acme, PETROV_GROUP, "102", ["101"])

    # an old export still lists 101, even with a newer update time
    api.upsert(acme, [flat("101", "Петров Иван", ["+7 916 123-45-67"], updated_at="2025-01-01T00:00:00Z")])

    assert api.client.get("/v1/contacts/101", headers=acme).json()["merged_into"] == "102"
    assert api.scan(acme)["result"]["records"] == 8


def test_merge_report_is_idempotent_and_adds_members_for_the_same_survivor(api, acme, scanned):
    first = merge(api, acme, PETROV_GROUP, "102", ["101"])
    again = merge(api, acme, PETROV_GROUP, "102", ["101"])
    more = merge(api, acme, PETROV_GROUP, "102", ["103"])

    assert first.status_code == again.status_code == more.status_code == 200
    assert first.json() == again.json() == {"group_id": PETROV_GROUP, "entity": "contact", "status": "merged",
                                            "survivor_id": "102", "absorbed_ids": ["101"]}
    assert more.json()["absorbed_ids"] == ["101", "103"]


def test_merge_with_another_survivor_than_reported_before_is_409(api, acme, scanned):
    merge(api, acme, ORLOV_GROUP, "401", ["402"])

    body = problem(merge(api, acme, ORLOV_GROUP, "402", ["401"]), 409)

    assert body["detail"] == f"group {ORLOV_GROUP} was merged into 401, not 402"
    assert api.client.get("/v1/contacts/401", headers=acme).json()["merged_into"] is None


@pytest.mark.parametrize(("survivor", "absorbed", "errors"), [
    ("104", ["101"], [("survivor_id", f"record 104 is not a member of group {PETROV_GROUP}")]),
    ("101", ["102", "401"], [("absorbed_ids[1]", f"record 401 is not a member of group {PETROV_GROUP}")]),
    ("101", ["101"], [("absorbed_ids[0]", "the survivor cannot be absorbed into itself")]),
    ("999", ["998"], [("survivor_id", f"record 999 is not a member of group {PETROV_GROUP}"),
                      ("absorbed_ids[0]", f"record 998 is not a member of group {PETROV_GROUP}")]),
    ("101", [], [("absorbed_ids", "List should have at least 1 item after validation, not 0")]),
], ids=["survivor-outside", "absorbed-outside", "survivor-absorbed", "both-outside", "nothing-absorbed"])
def test_merge_with_ids_outside_the_group_is_422_and_changes_nothing(api, acme, scanned, survivor, absorbed, errors):
    body = problem(merge(api, acme, PETROV_GROUP, survivor, absorbed), 422)

    assert [(e["field"], e["reason"]) for e in body["errors"]] == errors
    assert [g["status"] for g in listing(api, acme)["items"]] == ["open", "open"]


def test_merge_of_an_unknown_group_is_404(api, acme, scanned):
    problem(merge(api, acme, "ct-000000000000", "101", ["102"]), 404)


def test_deleted_records_leave_open_groups(api, acme, scanned):
    api.client.delete("/v1/contacts/103", headers=acme)
    api.client.delete("/v1/contacts/402", headers=acme)

    # {401, 402} has one live record left: no group; the Petrov group keeps its two live ones
    assert [(g["group_id"], g["record_ids"], g["size"]) for g in listing(api, acme)["items"]] == [
        (PETROV_GROUP, ["102", "101"], 2)]


def test_absorbed_records_leave_the_survivors_duplicates(api, acme, scanned):
    require_route(api, "GET", "/v1/{entity}/{record_id}/duplicates")
    before = api.client.get("/v1/contacts/102/duplicates", headers=acme).json()

    merge(api, acme, PETROV_GROUP, "102", ["101"])

    after = api.client.get("/v1/contacts/102/duplicates", headers=acme).json()
    assert {m["record_id"] for m in before["matches"]} == {"101", "103"}
    assert {m["record_id"] for m in after["matches"]} == {"103"}
