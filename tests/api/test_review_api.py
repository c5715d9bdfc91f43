"""What the review page needs of the API: a score range, the count left to review, another survivor, the page itself."""

import re
from importlib.resources import files

import pytest

from api.settings import Settings
from tests.api.conftest import ORLOV_GROUP, PETROV_GROUP, problem

pytestmark = pytest.mark.both_stores  # the same behaviour on the DuckDB and the PostgreSQL store


def get(api, headers, path):
    response = api.client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# PEOPLE (tests/api/conftest.py) groups into ORLOV (401, 402: one name and one email, score ~0.9995) and
# PETROV (101, 102, 103: joined by a shared phone only, so it needs review; a lower score).

@pytest.mark.parametrize(("query", "groups"), [
    ("?max_score=0.999", [PETROV_GROUP]),
    ("?max_score=1", [ORLOV_GROUP, PETROV_GROUP]),
    ("?min_score=0.999&max_score=1", [ORLOV_GROUP]),
    ("?max_score=0", []),
    ("?min_score=0.9999&max_score=0.5", []),  # an empty range is no error, just nothing
], ids=["below-orlov", "all", "range", "zero", "inverted-range"])
def test_max_score_bounds_the_list_from_above(scanned_once, query, groups):
    api, acme = scanned_once
    assert [g["group_id"] for g in get(api, acme, f"/v1/groups{query}")["items"]] == groups


def test_the_list_names_each_member_in_record_order(scanned_once):
    api, acme = scanned_once
    items = {g["group_id"]: g for g in get(api, acme, "/v1/groups")["items"]}

    assert (items[PETROV_GROUP]["record_ids"], items[PETROV_GROUP]["names"]) == (
        ["102", "101", "103"], ["Иван Петров", "Петров Иван", "Новый контакт по звонку с +79161234567 из UIS"])
    assert items[ORLOV_GROUP]["names"] == ["Сергей Орлов", "Орлов Сергей Петрович"]


@pytest.mark.parametrize(("query", "summary"), [
    ("", {"groups": 2, "records": 5, "counts": [
        {"entity": "contact", "status": "open", "needs_review": True, "groups": 1, "records": 3},
        {"entity": "contact", "status": "open", "needs_review": False, "groups": 1, "records": 2}]}),
    # the review queue: what the page shows as "left to review"
    ("?status=open&needs_review=true", {"groups": 1, "records": 3, "counts": [
        {"entity": "contact", "status": "open", "needs_review": True, "groups": 1, "records": 3}]}),
    ("?min_score=0.999", {"groups": 1, "records": 2, "counts": [
        {"entity": "contact", "status": "open", "needs_review": False, "groups": 1, "records": 2}]}),
    ("?entity=companies", {"groups": 0, "records": 0, "counts": []}),
    ("?status=merged", {"groups": 0, "records": 0, "counts": []}),
], ids=["all", "review-queue", "min-score", "no-companies", "none-merged"])
def test_summary_counts_what_the_same_filters_list(scanned_once, query, summary):
    api, acme = scanned_once
    assert get(api, acme, f"/v1/groups/summary{query}") == summary


@pytest.mark.parametrize(("query", "field"), [
    ("?max_score=1.5", "max_score"),
    ("?max_score=-0.1", "max_score"),
    ("?needs_review=пожалуй", "needs_review"),
    ("?entity=leads", "entity"),
], ids=["over-1", "negative", "junk-bool", "unknown-entity"])
def test_bad_summary_and_max_score_queries_are_422_naming_the_parameter(scanned_once, query, field):
    api, acme = scanned_once
    for path in ("/v1/groups/summary", "/v1/groups"):
        body = problem(api.client.get(f"{path}{query}", headers=acme), 422)
        assert [e["field"] for e in body["errors"]] == [field], path


def test_summary_follows_a_decision_at_once(api, acme, scanned):
    response = api.client.post("/v1/feedback", headers=acme, json={
        "entity": "contact", "left_id": "401", "right_id": "402", "decision": "not_duplicate"})
    assert response.status_code == 201, response.text

    assert get(api, acme, "/v1/groups/summary") == {"groups": 1, "records": 3, "counts": [
        {"entity": "contact", "status": "open", "needs_review": True, "groups": 1, "records": 3}]}


def test_another_survivor_gives_the_plan_anew_and_changes_nothing_stored(scanned_once):
    api, acme = scanned_once
    chosen = get(api, acme, f"/v1/groups/{PETROV_GROUP}?survivor=101")
    again = get(api, acme, f"/v1/groups/{PETROV_GROUP}")

    assert chosen["merge_plan"] == {
        "survivor_id": "101", "survivor_reason": "chosen by the reviewer", "merge_ids": ["102", "103"],
        "responsible_user_id": None, "lead_ids": [], "company_ids": [],
        "keep": {"name": "Петров Иван", "phones": ["+79161234567"], "emails": []}}
    # the stored group keeps the rule's survivor
    assert (chosen["survivor_id"], again["survivor_id"], again["merge_plan"]["survivor_id"]) == ("102", "102", "102")
    assert chosen["members"] == again["members"]


@pytest.mark.parametrize(("survivor", "reason"), [
    ("104", f"record 104 is not a member of group {PETROV_GROUP}"),  # a namesake outside the group
    ("401", f"record 401 is not a member of group {PETROV_GROUP}"),  # a member of another group
    ("Иван", f"record Иван is not a member of group {PETROV_GROUP}"),
], ids=["namesake", "other-group", "cyrillic-junk"])
def test_a_survivor_outside_the_group_is_422(scanned_once, survivor, reason):
    api, acme = scanned_once
    body = problem(api.client.get(f"/v1/groups/{PETROV_GROUP}?survivor={survivor}", headers=acme), 422)

    assert [(e["field"], e["reason"]) for e in body["errors"]] == [("survivor", reason)]


def test_group_detail_lists_the_pairs_confirmed_as_duplicates(api, acme, scanned):
    assert get(api, acme, f"/v1/groups/{ORLOV_GROUP}")["decisions"] == []
    response = api.client.post("/v1/feedback", headers=acme, json={"decisions": [
        {"entity": "contact", "left_id": "402", "right_id": "401", "decision": "duplicate"},
        {"entity": "contact", "left_id": "101", "right_id": "102", "decision": "duplicate"},
        {"entity": "contact", "left_id": "101", "right_id": "102", "decision": "undo"}]})
    assert response.status_code == 201, response.text

    assert get(api, acme, f"/v1/groups/{ORLOV_GROUP}")["decisions"] == [
        {"left_id": "401", "right_id": "402", "decision": "duplicate"}]
    assert get(api, acme, f"/v1/groups/{PETROV_GROUP}")["decisions"] == []  # undone: none in force


# --- the page itself -----------------------------------------------------------------------------------

def test_ui_redirects_to_the_page_which_loads_its_scripts(api):
    redirect = api.client.get("/ui", follow_redirects=False)
    page = api.client.get("/ui/")

    assert (redirect.status_code, redirect.headers["location"]) == (307, "ui/")
    assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert '<script type="module" src="main.js"></script>' in page.text  # main.js imports the other modules
    assert '<html lang="ru">' in page.text  # Russian first, as amoCRM users expect


@pytest.mark.parametrize(("name", "media_type"), [
    ("main.js", "text/javascript; charset=utf-8"),
    ("i18n.js", "text/javascript; charset=utf-8"),
    ("app.css", "text/css; charset=utf-8"),
], ids=["main-js", "i18n-js", "css"])
def test_assets_are_served_without_a_key(api, name, media_type):
    response = api.client.get(f"/ui/{name}")

    assert (response.status_code, response.headers["content-type"], response.headers["cache-control"]) == (
        200, media_type, "no-cache")


def test_every_module_the_page_imports_is_served_as_javascript(api):
    # what a browser does: load the page's module scripts, then every module each of them imports;
    # a browser refuses a module served with any type but JavaScript (HTML spec, "fetch a single module script")
    entries = re.findall(r'<script type="module" src="([\w.-]+)"></script>', api.client.get("/ui/").text)
    served, todo = {}, list(entries)
    while todo:
        name = todo.pop()
        if name not in served:
            response = api.client.get(f"/ui/{name}")
            served[name] = (response.status_code, response.headers["content-type"])
            todo += re.findall(r'^import .+ from "\./([\w.-]+)";$', response.text, flags=re.MULTILINE)

    shipped = sorted(p.name for p in (files("api") / "ui").iterdir() if p.name.endswith(".js"))
    assert entries == ["main.js"]
    assert served == {name: (200, "text/javascript; charset=utf-8") for name in shipped}  # none missing, none unused


@pytest.mark.parametrize(("path", "status"), [
    ("/ui/nothing.js", 404),
    ("/ui/app.js", 404),  # the single script the modules replaced
    ("/ui/..%2Fapp.py", 404),  # the path decodes to /ui/../app.py, which no route matches
    ("/ui/__init__.py", 404),  # a name the pattern allows, but only page files are served
    ("/ui/страница.html", 422),  # the name pattern refuses it before any file is looked at
], ids=["unknown", "old-app-js", "traversal", "python-file", "cyrillic-name"])
def test_anything_else_under_ui_is_refused(api, path, status):
    problem(api.client.get(path), status)


def test_the_page_learns_the_mlflow_ui_address_from_settings(make_api, monkeypatch):
    monkeypatch.setenv("CRM_DEDUP_MLFLOW_UI_URL", "http://mlflow.example.org:5000")
    assert Settings().mlflow_ui_url == "http://mlflow.example.org:5000"
    monkeypatch.delenv("CRM_DEDUP_MLFLOW_UI_URL")
    assert Settings().mlflow_ui_url == "http://127.0.0.1:5000"

    api = make_api(mlflow_ui_url="http://10.0.0.5:5001")
    assert api.client.get("/ui/settings.json").json() == {"mlflow_ui_url": "http://10.0.0.5:5001"}
