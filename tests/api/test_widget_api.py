"""The widget's API: groups among selected records, kept merges and their restore, the allow-list, retention,
"create anyway" decisions, and tenancy of all of it."""

from __future__ import annotations

from typing import Any

import pytest

from resolver.restore import CrmWriteError
from tests.api.conftest import ORLOV, ORLOV_GROUP, PEOPLE, PETROV_GROUP, amocrm, problem
from tests.widget.conftest import widget_token

SECRET = "the-integration-secret-key-0123456789"


class RecordingCrm:
    """A CRM writer that keeps what it was asked to create and link (the service's side of restore);
    the amoCRM client is tested against its own stand-in."""

    def __init__(self, *, fail_links: bool = False) -> None:
        self.created: list[tuple[str, dict[str, Any]]] = []
        self.linked: list[tuple[str, str, list[dict[str, Any]]]] = []
        self.fail_links = fail_links

    def create(self, entity: str, payload: dict[str, Any]) -> str:
        self.created.append((entity, payload))
        return str(9000 + len(self.created))

    def link(self, entity: str, record_id: str, links: list[dict[str, Any]]) -> None:
        if self.fail_links:
            raise CrmWriteError("amoCRM answered 400 to the link request")
        self.linked.append((entity, record_id, links))


def token(account: str = "acme", **claims: Any) -> dict[str, str]:
    return {"X-Auth-Token": widget_token(secret=SECRET, account_id=account, **claims)}  # type: ignore[arg-type]


@pytest.fixture
def wapi(make_api):
    api = make_api(jwt_secret=SECRET)
    acme = api.account("acme")
    orlov = [amocrm(401, "Сергей Орлов", emails=["s.orlov@yandex.ru"], leads=[(7001, 142)], companies=[501]),
             amocrm(402, "Орлов Сергей Петрович", ["+7 903 555-11-22"], ["S.Orlov@Yandex.ru"])]
    api.upsert(acme, [*PEOPLE[:7], *orlov])  # amoCRM's shape: the raw object keeps links and field ids
    api.scan(acme)
    return api, acme


def among(api, headers, body, entity="contacts"):
    return api.client.post(f"/v1/{entity}/groups:among", json=body, headers=headers)


def report(api, headers, group_id, survivor, absorbed):
    return api.client.post(f"/v1/groups/{group_id}/merged", json={"survivor_id": survivor, "absorbed_ids": absorbed},
                           headers=headers)


def test_groups_among_selected_records_name_the_selected_members_and_which_are_safe(wapi):
    api, acme = wapi
    answer = among(api, acme, {"record_ids": ["101", "104", "402", "999"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["count"] == 2 and not body["truncated"]
    by_id = {g["group_id"]: g for g in body["groups"]}
    assert set(by_id) == {PETROV_GROUP, ORLOV_GROUP}
    assert by_id[PETROV_GROUP]["selected_ids"] == ["101"]
    assert by_id[ORLOV_GROUP]["selected_ids"] == ["402"]
    for group in body["groups"]:  # safe: what an automatic run may merge
        assert group["safe"] == (not group["needs_review"] and group["group_score"] >= body["auto_merge_threshold"])
        assert group["record_ids"][0] == group["survivor_id"] == group["merge_plan"]["survivor_id"]
    assert by_id[PETROV_GROUP]["needs_review"] and not by_id[PETROV_GROUP]["safe"]
    # the whole account: every open group
    assert {g["group_id"] for g in among(api, acme, {}).json()["groups"]} == {PETROV_GROUP, ORLOV_GROUP}
    assert among(api, acme, {"record_ids": ["104", "301"]}).json()["groups"] == []


def test_groups_among_refuses_too_many_ids_and_other_accounts_see_nothing(wapi):
    api, acme = wapi
    body = problem(among(api, acme, {"record_ids": [str(i) for i in range(1001)]}), 422)
    assert "record_ids" in body["errors"][0]["field"]
    other = api.account("other")
    assert among(api, other, {"record_ids": ["101", "402"]}).json()["groups"] == []
    assert among(api, other, {}).json()["groups"] == []


def test_a_reported_merge_keeps_the_absorbed_record_and_restore_recreates_it_apart(wapi):
    api, acme = wapi
    crm = RecordingCrm()
    api.client.app.state.crm_writers = lambda account: crm if account == "acme" else None
    assert report(api, token(), ORLOV_GROUP, "402", ["401"]).status_code == 200

    page = api.client.get("/v1/merges", headers=acme).json()
    assert page["next_cursor"] is None and len(page["items"]) == 1
    kept = page["items"][0]
    assert (kept["record_id"], kept["survivor_id"], kept["group_id"], kept["merged_by"]) == (
        "401", "402", ORLOV_GROUP, "504141")
    assert kept["image"]["name"] == "Сергей Орлов" and kept["image"]["lead_ids"] == ["7001"]
    assert kept["image"]["raw"]["_embedded"]["companies"] == [{"id": 501}]
    assert kept["restored_as"] is None
    assert api.client.get("/v1/merges", headers=api.account("other")).json()["items"] == []  # tenancy

    restored = api.client.post(f"/v1/merges/{kept['merge_id']}/restore", headers=acme)
    assert restored.status_code == 200, restored.text
    assert restored.json()["restored_as"] == "9001"
    entity, payload = crm.created[0]
    assert entity == "contact" and payload["name"] == "Сергей Орлов" and payload["responsible_user_id"] == 504141
    assert payload["custom_fields_values"] == [{"field_id": 100002, "field_code": "EMAIL",
                                                "values": [{"value": "s.orlov@yandex.ru", "enum_code": "WORK"}]}]
    assert crm.linked == [("contact", "9001", [{"to_entity_id": 7001, "to_entity_type": "leads"},
                                               {"to_entity_id": 501, "to_entity_type": "companies"}])]
    decisions = api.client.get("/v1/feedback", headers=acme).json()["items"]
    assert [(d["left_id"], d["right_id"], d["decision"]) for d in decisions] == [("402", "9001", "not_duplicate")]
    again = problem(api.client.post(f"/v1/merges/{kept['merge_id']}/restore", headers=acme), 409)
    assert again["detail"] == f"merge {kept['merge_id']} was restored already as record 9001"
    assert api.client.get("/v1/merges", headers=acme).json()["items"][0]["restored_as"] == "9001"


def test_restore_without_an_amocrm_connection_is_a_clear_problem_and_changes_nothing(wapi):
    api, acme = wapi
    assert report(api, acme, ORLOV_GROUP, "402", ["401"]).status_code == 200
    merge_id = api.client.get("/v1/merges", headers=acme).json()["items"][0]["merge_id"]
    body = problem(api.client.post(f"/v1/merges/{merge_id}/restore", headers=acme), 409)
    assert body["detail"].startswith("account acme has no amoCRM connection")
    assert api.client.get("/v1/merges", headers=acme).json()["items"][0]["restored_at"] is None
    # another account cannot restore (or see) it
    api.client.app.state.crm_writers = lambda account: RecordingCrm()
    problem(api.client.post(f"/v1/merges/{merge_id}/restore", headers=api.account("other")), 404)


def test_restore_whose_links_fail_says_which_record_was_made(wapi):
    api, acme = wapi
    api.client.app.state.crm_writers = lambda account: RecordingCrm(fail_links=True)
    assert report(api, acme, ORLOV_GROUP, "402", ["401"]).status_code == 200
    merge_id = api.client.get("/v1/merges", headers=acme).json()["items"][0]["merge_id"]
    body = problem(api.client.post(f"/v1/merges/{merge_id}/restore", headers=acme), 502)
    assert body["detail"].startswith("contact 401 was re-created as 9001, but linking it to 2 record(s) failed")
    assert api.client.get("/v1/merges", headers=acme).json()["items"][0]["restored_as"] == "9001"


def test_allow_list_refuses_widget_users_not_on_it_and_never_api_keys(wapi):
    api, acme = wapi
    settings = {"allowed_users": ["111"], "entities": ["contacts"], "sound": False, "run_cap": 20}
    refused = problem(api.client.put("/v1/widget/settings", json=settings, headers=token(user_id=111)), 403)
    assert "administrator" in refused["detail"]
    saved = api.client.put("/v1/widget/settings", json=settings, headers=token(user_id=1, is_admin=True))
    assert saved.status_code == 200, saved.text
    assert (saved.json()["configured"], saved.json()["allowed"], saved.json()["run_cap"]) == (True, False, 20)

    stranger = token(user_id=504141)
    assert api.client.get("/v1/widget/settings", headers=stranger).json()["allowed"] is False
    body = problem(report(api, stranger, ORLOV_GROUP, "402", ["401"]), 403)
    assert body["detail"].startswith("amoCRM user 504141 is not on this account's widget allow-list")
    problem(among(api, stranger, {"record_ids": ["401"]}), 403)
    assert api.client.get(f"/v1/groups/{ORLOV_GROUP}", headers=acme).json()["status"] == "open"  # nothing changed

    assert api.client.get("/v1/widget/settings", headers=token(user_id=111)).json()["allowed"] is True
    assert report(api, token(user_id=111), ORLOV_GROUP, "402", ["401"]).status_code == 200
    assert report(api, acme, PETROV_GROUP, "101", ["102"]).status_code == 200  # an API key is not a widget user
    merge_id = api.client.get("/v1/merges", headers=acme).json()["items"][0]["merge_id"]
    problem(api.client.post(f"/v1/merges/{merge_id}/restore", headers=stranger), 403)
    # another account's settings are its own
    other = api.account("other")
    assert api.client.get("/v1/widget/settings", headers=other).json()["configured"] is False


def test_merges_older_than_the_retention_are_purged(make_api):
    api = make_api(merge_retention_days=1e-9)  # under a millisecond: gone by the next request
    acme = api.account("acme")
    api.upsert(acme, PEOPLE)
    api.scan(acme)
    assert report(api, acme, ORLOV_GROUP, "402", ["401"]).status_code == 200
    assert api.client.get("/v1/merges", headers=acme).json()["items"] == []
    assert api.store.merges_page("acme") == []


def test_retention_purge_drops_only_older_images(wapi):
    api, acme = wapi
    assert report(api, acme, ORLOV_GROUP, "402", ["401"]).status_code == 200
    [kept] = api.store.merges_page("acme")
    assert api.store.purge_merge_images(kept["merged_at"]) == 0
    assert api.client.get("/v1/merges", headers=acme).json()["items"][0]["merge_id"] == kept["merge_id"]
    assert api.store.purge_merge_images(kept["merged_at"].replace(year=kept["merged_at"].year + 1)) == 1
    assert api.client.get("/v1/merges", headers=acme).json()["items"] == []


def test_merges_page_follows_the_cursor(wapi):
    api, acme = wapi
    assert report(api, acme, PETROV_GROUP, "101", ["102", "103"]).status_code == 200
    assert report(api, acme, ORLOV_GROUP, "402", ["401"]).status_code == 200
    seen, cursor = [], None
    while True:
        page = api.client.get("/v1/merges", params={"limit": 1, **({"cursor": cursor} if cursor else {})},
                              headers=acme).json()
        seen += [m["record_id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == ["102", "103", "401"] and len(seen) == 3
    problem(api.client.get("/v1/merges", params={"cursor": "junk"}, headers=acme), 422)


def test_created_anyway_becomes_not_duplicate_when_the_new_record_arrives(wapi):
    api, acme = wapi
    answer = api.client.post("/v1/contacts/created-anyway", headers=token(user_id=777),
                             json={"record_ids": ["401"], "emails": ["S.ORLOV@yandex.ru "]})
    assert answer.status_code == 202, answer.text
    assert api.client.get("/v1/feedback", headers=acme).json()["items"] == []  # no record yet
    api.upsert(acme, [{"id": "403", "name": "Орлов С.", "emails": ["s.orlov@yandex.ru"]}])
    decisions = api.client.get("/v1/feedback", headers=acme).json()["items"]
    assert [(d["left_id"], d["right_id"], d["decision"], d["reviewer"]) for d in decisions] == [
        ("401", "403", "not_duplicate", "777")]
    api.upsert(acme, [{"id": "404", "name": "Орлов", "emails": ["s.orlov@yandex.ru"]}])  # applied once only
    assert len(api.client.get("/v1/feedback", headers=acme).json()["items"]) == 1
    problem(api.client.post("/v1/contacts/created-anyway", headers=acme, json={"record_ids": ["401"]}), 422)
    problem(api.client.post("/v1/contacts/created-anyway", headers=api.account("other"),
                            json={"record_ids": ["401"], "phones": ["+7 903 555-11-22"]}), 404)
    assert ORLOV == ("401", "402")


def test_restore_through_the_amocrm_client_recreates_the_record_with_fields_tags_and_links(wapi):
    """The real API v4 client against the amoCRM stand-in (a real HTTP server)."""
    from amocrm.standin import AmoStandin
    from api.crm_writer import amocrm_writers
    from tests.amocrm.conftest import ACCOUNT, CLIENT_ID, CLIENT_SECRET, REDIRECT, MemoryTokens, make_client

    api, acme = wapi
    raw = amocrm(401, "Сергей Орлов", emails=["s.orlov@yandex.ru"], leads=[(7001, 142)], companies=[501])
    raw["_embedded"]["tags"] = [{"id": 5, "name": "vip"}]
    api.upsert(acme, [raw | {"updated_at": 2_000_000_000 - 1}])  # the tag arrives with a later sync
    assert report(api, acme, ORLOV_GROUP, "402", ["401"]).status_code == 200
    merge_id = api.client.get("/v1/merges", headers=acme).json()["items"][0]["merge_id"]
    with AmoStandin(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT) as standin:
        standin.add_account(ACCOUNT, subdomain="acme")
        with make_client(standin, MemoryTokens(standin)) as client:
            api.client.app.state.crm_writers = amocrm_writers(lambda account: client if account == "acme" else None)
            answer = api.client.post(f"/v1/merges/{merge_id}/restore", headers=acme)
            assert answer.status_code == 200, answer.text
            new_id = int(answer.json()["restored_as"])
            made = standin.record(ACCOUNT, "contacts", new_id)
    assert made is not None and made["name"] == "Сергей Орлов" and made["responsible_user_id"] == 504141
    assert [f["values"] for f in made["custom_fields_values"]] == [[{"value": "s.orlov@yandex.ru",
                                                                     "enum_code": "WORK"}]]
    assert [t["name"] for t in made["_embedded"]["tags"]] == ["vip"]
    assert made["_embedded"]["leads"] == [{"id": 7001}] and made["_embedded"]["companies"] == [{"id": 501}]
