"""The whole amoCRM path through the stand-in and a real `crm-dedup serve`: install -> pull -> webhook ->
/duplicates -> tag -> "not a duplicate" -> tag removed; and the ways it must not break."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from amocrm.standin import AmoStandin
from tests.amocrm.conftest import CLIENT_ID, CLIENT_SECRET
from tests.amocrm.service import api, install, job_done, new_port, serve, service_env, status, wait_for
from tests.servers import Served

pytestmark = pytest.mark.timeout(600)

ACME, BETA = 29000000, 29000001
ADMIN = "a" * 40
CONTACTS, COMPANIES = 600, 120


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AmoStandin, Served]]:
    """Two amoCRM accounts in one stand-in (7 requests/s each) and the service, both installed and imported."""
    cwd = tmp_path_factory.mktemp("amocrm")
    port = new_port()
    with AmoStandin(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                    redirect_uri=f"http://127.0.0.1:{port}/amocrm/oauth/callback",
                    disable_hook=f"http://127.0.0.1:{port}/amocrm/disable") as standin:
        standin.seed(ACME, subdomain="acme", contacts=CONTACTS, companies=COMPANIES)
        standin.seed(BETA, subdomain="beta", contacts=30, companies=5, seed=7, country="BY")
        env = service_env(standin, port, CRM_DEDUP_AMOCRM_CATCHUP_SECONDS="2", CRM_DEDUP_ADMIN_TOKEN=ADMIN)
        with serve(cwd / "store.duckdb", env, port, cwd) as server:
            jobs = {ACME: install(server, standin, ACME, "acme"), BETA: install(server, standin, BETA, "beta")}
            for account, job_id in jobs.items():
                wait_for(f"import of {account}", lambda a=account, j=job_id: job_done(server, a, j), server=server)
            yield standin, server


def _phone_contact(standin: AmoStandin) -> dict[str, Any]:
    """A stored contact with a name and a phone: the original a new duplicate will copy."""
    for contact in standin.records(ACME, "contacts").values():
        phones = [f for f in contact.get("custom_fields_values") or [] if f.get("field_code") == "PHONE"]
        if phones and contact.get("first_name") and contact.get("last_name") and not contact["name"].startswith("Нов"):
            return contact
    raise AssertionError("the seed holds no contact with a name and a phone")


def _duplicate_ids(server: Served, record_id: int) -> set[str] | None:
    with api(server, ACME) as client:
        answer = client.get(f"/v1/contacts/{record_id}/duplicates")
    return {m["record_id"] for m in answer.json()["matches"]} if answer.status_code == 200 else None


def test_install_pulls_every_record_and_never_exceeds_the_rate(world: tuple[AmoStandin, Served]):
    standin, server = world
    acme = status(server, ACME)
    assert acme["status"] == "connected" and acme["subdomain"] == "acme"
    assert acme["import"]["finished"] and acme["import"]["records"] == CONTACTS + COMPANIES
    assert acme["records_pulled"] >= CONTACTS + COMPANIES
    with api(server, ACME) as client:
        some = next(iter(standin.records(ACME, "contacts")))
        assert client.get(f"/v1/contacts/{some}").status_code == 200  # the widget's token works at once
    assert standin.max_rate(ACME) <= 7 and standin.max_rate(BETA) <= 7
    assert not [r for r in standin.api_requests() if r.status == 429]  # the limiter kept under the limit
    [hook] = standin.webhooks(ACME)
    assert hook["destination"].startswith(f"{server.url}/amocrm/webhooks/{ACME}/")
    assert set(hook["settings"]) >= {"add_contact", "update_contact", "delete_contact", "restore_contact",
                                      "add_company", "update_company", "delete_company", "restore_company"}


def test_the_region_comes_from_the_account_country(world: tuple[AmoStandin, Served]):
    standin, server = world
    assert status(server, BETA)["region"] == "BY" and status(server, ACME)["region"] == "RU"
    # a Belarusian account writes its local numbers with the trunk prefix 8 and operator code 029
    local = standin.create(BETA, "contacts", {"name": "Алесь Каваль", "custom_fields_values": [
        {"field_code": "PHONE", "values": [{"value": "8 029 123-45-67", "enum_code": "MOB"}]}]})

    def phones() -> list[str] | None:
        with api(server, BETA) as client:
            answer = client.get(f"/v1/contacts/{local['id']}")
        return answer.json()["phones"] if answer.status_code == 200 else None

    assert wait_for("the Belarusian contact", phones, server=server) == ["+375291234567"]
    # the widget's check of an unsaved record, and an upsert through the API, read local numbers the same way
    with api(server, BETA) as client:
        found = client.post("/v1/contacts/check", json={"name": "Алесь Каваль", "phones": ["8 (029) 1234567"]})
        assert found.status_code == 200, found.text
        assert str(local["id"]) in {m["record_id"] for m in found.json()["matches"]}
        put = client.put("/v1/contacts/777", json={"id": "777", "name": "Янка", "phones": ["8 029 765-43-21"]})
        assert put.status_code == 200 and put.json()["phones"] == ["+375297654321"]
    with api(server, ACME) as client:  # a Russian account reads the same text as no number at all
        put = client.put("/v1/contacts/777", json={"id": "777", "name": "Янка", "phones": ["8 029 765-43-21"]})
        assert put.status_code == 200 and put.json()["phones"] == []


def test_webhook_duplicate_tag_then_not_a_duplicate_removes_it(world: tuple[AmoStandin, Served]):
    standin, server = world
    original = _phone_contact(standin)
    copy = standin.create(ACME, "contacts", {
        "name": original["name"], "first_name": original["first_name"], "last_name": original["last_name"],
        "custom_fields_values": [f for f in original["custom_fields_values"] if f.get("field_code") == "PHONE"]})
    new_id = copy["id"]
    found = wait_for("the new contact's duplicates", lambda: _duplicate_ids(server, new_id), server=server)
    assert str(original["id"]) in found
    wait_for("the tag", lambda: "дубль" in standin.tags_of(ACME, "contacts", new_id), server=server)
    [note] = wait_for("the note", lambda: [n for n in standin.notes(ACME) if n["entity_id"] == new_id], server=server)
    text = note["params"]["text"]
    assert f"id {original['id']}" in text and "%" in text and f"{server.url}/ui/" in text
    wait_for("the webhook's time", lambda: status(server, ACME)["last_webhook_at"], server=server)
    # reviewers: not a duplicate, for every match
    with api(server, ACME) as client:
        for match in found:
            answer = client.post("/v1/feedback", json={"entity": "contact", "left_id": str(new_id), "right_id": match,
                                                       "decision": "not_duplicate"})
            assert answer.status_code == 201, answer.text
    wait_for("the tag to come off", lambda: "дубль" not in standin.tags_of(ACME, "contacts", new_id), server=server)
    assert len([n for n in standin.notes(ACME) if n["entity_id"] == new_id]) == 1  # no note for a removal


def _iso(unix: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _hook(standin: AmoStandin, account: int) -> str:
    return str(standin.webhooks(account)[0]["destination"])


def test_the_same_webhook_twice_changes_nothing(world: tuple[AmoStandin, Served]):
    standin, server = world
    original = _phone_contact(standin)
    copy = standin.create(ACME, "contacts", {"name": original["name"], "custom_fields_values": [
        f for f in original["custom_fields_values"] if f.get("field_code") == "PHONE"]})
    wait_for("the note", lambda: [n for n in standin.notes(ACME) if n["entity_id"] == copy["id"]], server=server)
    latest = standin.record(ACME, "contacts", copy["id"])
    assert latest is not None

    def stored() -> dict[str, Any] | None:
        with api(server, ACME) as client:
            row = client.get(f"/v1/contacts/{copy['id']}").json()
        # the tag's PATCH changed updated_at and fired an update webhook: settled once that is stored
        settled = row["updated_at"].startswith(_iso(latest["updated_at"])) and not status(server, ACME)["queued_events"]
        return row if settled else None

    before = wait_for("the sync to settle", stored, server=server)
    delivery = next(d for d in standin.deliveries if f"contacts%5Badd%5D%5B0%5D%5Bid%5D={copy['id']}" in d.body)
    def writes() -> list[str]:  # amoCRM writes about this record: tags (PATCH) and notes
        return [f"{r.method} {r.path}" for r in standin.api_requests(ACME)
                if r.method in ("PATCH", "POST") and str(copy["id"]) in r.path]

    written = writes()
    assert written == [f"PATCH /api/v4/contacts/{copy['id']}", f"POST /api/v4/contacts/{copy['id']}/notes"]
    for _ in range(2):
        answer = httpx.post(delivery.destination, content=delivery.body,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200 and answer.json() == {"events": 1}
    wait_for("the repeats to be handled", lambda: status(server, ACME)["queued_events"] == 0, server=server)
    with api(server, ACME) as client:
        assert client.get(f"/v1/contacts/{copy['id']}").json() == before
    assert writes() == written  # no new tag, no new note
    assert len([n for n in standin.notes(ACME) if n["entity_id"] == copy["id"]]) == 1


def test_another_accounts_url_or_secret_cannot_inject_records(world: tuple[AmoStandin, Served]):
    standin, server = world
    acme_url, beta_url = _hook(standin, ACME), _hook(standin, BETA)
    acme_secret = acme_url.rsplit("/", 1)[1]
    body = urllib.parse.urlencode({"contacts[add][0][id]": "1", "account[id]": str(BETA)})
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    cases = {
        "beta's URL with acme's secret": (f"{server.url}/amocrm/webhooks/{BETA}/{acme_secret}", 404),
        "an invented secret": (f"{server.url}/amocrm/webhooks/{ACME}/{'A' * 43}", 404),
        "an account never installed": (f"{server.url}/amocrm/webhooks/123/{acme_secret}", 404),
        "acme's URL with beta's body": (acme_url, 422),
    }
    for case, (url, expected) in cases.items():
        answer = httpx.post(url, content=body, headers=form)
        assert answer.status_code == expected, case
        assert answer.headers["content-type"].startswith("application/problem+json"), case
    answer = httpx.post(beta_url, content=urllib.parse.urlencode({"contacts[add][0][id]": "1",
                                                                  "account[subdomain]": "acme"}), headers=form)
    assert answer.status_code == 422  # a subdomain that is not beta's


@pytest.mark.parametrize(("body", "status_code"), [
    (b"contacts[add][0][id]=1", 422),
    (b"account[id]=29000000&contacts[add][0][id]=1;DROP", 422),
    (b"account[id]=29000000&" + b"a[x]" * 20 + b"=1", 422),
    (b"account[id]=29000000&contacts[add]=1", 422),
    (b"\xff" * 10, 422),
    (b"x=" + b"1" * 2_100_000, 413),
], ids=["no account", "id not numeric", "too deep", "action not a list", "not utf-8", "too large"])
def test_hostile_webhook_bodies_get_a_clear_4xx(world: tuple[AmoStandin, Served], body: bytes, status_code: int):
    standin, _ = world
    answer = httpx.post(_hook(standin, ACME), content=body,
                        headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    assert answer.status_code == status_code
    assert answer.json()["detail"]


def test_a_deleted_record_leaves_the_base(world: tuple[AmoStandin, Served]):
    standin, server = world
    victim = list(standin.records(ACME, "contacts"))[5]
    standin.delete(ACME, "contacts", victim)

    def deleted() -> bool:
        with api(server, ACME) as client:
            return bool(client.get(f"/v1/contacts/{victim}").json()["deleted"])

    wait_for("the deletion", deleted, server=server)


def test_the_catch_up_poll_repairs_a_lost_webhook(world: tuple[AmoStandin, Served]):
    standin, server = world
    original = _phone_contact(standin)
    lost = standin.create(ACME, "contacts", {"name": original["name"], "custom_fields_values": [
        f for f in original["custom_fields_values"] if f.get("field_code") == "PHONE"]}, fire=False)
    found = wait_for("the catch-up to find it", lambda: _duplicate_ids(server, lost["id"]), server=server)
    assert str(original["id"]) in found
    wait_for("its tag", lambda: "дубль" in standin.tags_of(ACME, "contacts", lost["id"]), server=server)
    assert status(server, ACME)["last_catchup_at"] is not None


def test_an_expired_token_is_refreshed(world: tuple[AmoStandin, Served]):
    standin, server = world
    standin.expire_tokens()
    copy = standin.create(ACME, "contacts", {"name": "Обновлённый Токен"})
    wait_for("the new contact", lambda: _duplicate_ids(server, copy["id"]) is not None, server=server)
    assert status(server, ACME)["status"] == "connected"
    assert [r for r in standin.requests if r.path == "/oauth2/access_token" and r.body.get("grant_type") ==
            "refresh_token" and r.status == 200]


def test_a_refused_refresh_marks_needs_reinstall_and_stops(world: tuple[AmoStandin, Served]):
    # beta stays disconnected afterwards
    standin, server = world
    url = _hook(standin, BETA)
    standin.expire_tokens(BETA)
    standin.revoke_refresh_tokens(BETA)
    standin.create(BETA, "contacts", {"name": "Никто Не Прочтёт"})
    wait_for("needs re-install", lambda: status(server, BETA)["status"] == "needs_reinstall", server=server)
    seen = len(standin.api_requests(BETA))
    standin.create(BETA, "contacts", {"name": "Ещё Один"})
    answer = httpx.post(url, content=b"account[id]=29000001&contacts[add][0][id]=1",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 404  # its webhook secret went with the tokens
    assert len(standin.api_requests(BETA)) == seen  # no request with a dead token, no loop
    assert status(server, BETA)["reason"].startswith("token refresh refused")
    # installing again reconnects the same account: a new webhook URL, syncing again
    install(server, standin, BETA, "beta")
    assert status(server, BETA)["status"] == "connected"
    assert [w["destination"] for w in standin.webhooks(BETA)] != [url]
    back = standin.create(BETA, "contacts", {"name": "Снова На Связи"})
    with api(server, BETA) as client:
        wait_for("sync after the re-install", lambda: client.get(f"/v1/contacts/{back['id']}").status_code == 200,
                 server=server)


def test_the_review_page_shows_the_connection(world: tuple[AmoStandin, Served]):
    _, server = world
    from tests.servers import chromium

    answer = httpx.post(f"{server.url}/v1/admin/accounts/{ACME}/keys", headers={"Authorization": f"Bearer {ADMIN}"},
                        json={"label": "review page"})
    assert answer.status_code == 201, answer.text
    with chromium() as browser:
        page = browser.new_page(locale="ru-RU")
        page.goto(f"{server.url}/ui/#key={answer.json()['key']}")
        page.click("#tab-model")
        card = page.locator("#amocrm-status")
        card.wait_for()
        text = card.inner_text()
    assert "acme" in text and "подключён" in text and "Записей получено" in text
    pulled = int(text.split("Записей получено\n", 1)[1].split("\n", 1)[0])
    # the catch-up poll keeps counting while the page loads: at least the import's, at most the latest
    assert CONTACTS + COMPANIES <= pulled <= status(server, ACME)["records_pulled"]


def test_a_notes_group_link_opens_that_group(world: tuple[AmoStandin, Served]):
    _, server = world
    with api(server, ACME) as client:
        groups = client.get("/v1/groups", params={"limit": 5}).json()["items"]
    linked = groups[2]["group_id"]  # not the first: the page opens that one anyway
    key = httpx.post(f"{server.url}/v1/admin/accounts/{ACME}/keys", headers={"Authorization": f"Bearer {ADMIN}"},
                     json={}).json()["key"]
    from tests.servers import chromium

    with chromium() as browser:
        page = browser.new_page(locale="ru-RU")
        page.goto(f"{server.url}/ui/#key={key}&group={linked}")
        page.locator(f'[id="group-{linked}"][aria-selected="true"]').wait_for()


def test_the_disable_hook_uninstalls(world: tuple[AmoStandin, Served]):
    standin, server = world
    assert standin.uninstall(ACME) == 200
    assert status(server, ACME)["status"] == "uninstalled"
    forged = httpx.get(f"{server.url}/amocrm/disable", params={"account_id": ACME, "signature": "0" * 64})
    assert forged.status_code == 404


def test_crash_mid_import_resumes_from_the_last_page(tmp_path: Path):
    port = new_port()
    with AmoStandin(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                    redirect_uri=f"http://127.0.0.1:{port}/amocrm/oauth/callback") as standin:
        standin.seed(ACME, subdomain="acme", contacts=2000, companies=50)
        env = service_env(standin, port, CRM_DEDUP_AMOCRM_IMPORT_SLICE_PAGES="1")
        db = tmp_path / "store.duckdb"
        with serve(db, env, port, tmp_path) as server:
            install(server, standin, ACME, "acme")
            wait_for("two pages", lambda: status(server, ACME)["import"]["pages_done"] >= 2, server=server)
            server.process.kill()  # no shutdown: a crash
            server.process.wait()
        standin.fail_next(7, 429)  # and a storm of 429s and 503s on the way (within the client's 10 retries)
        standin.fail_next(2, 503)
        with serve(db, env, port, tmp_path) as server:
            wait_for("the import to finish", lambda: status(server, ACME)["import"]["finished"], server=server)
            assert status(server, ACME)["import"]["records"] == 2050
        firsts = [r for r in standin.api_requests(ACME) if r.path == "/api/v4/contacts" and "page=" not in r.query]
        assert len([r for r in firsts if r.status == 200]) == 1  # page 1 was read once: the import resumed
        pages = [urllib.parse.parse_qs(r.query).get("page", ["1"])[0] for r in standin.api_requests(ACME)
                 if r.path == "/api/v4/contacts" and r.status == 200]
        assert sorted(set(pages), key=int) == [str(p) for p in range(1, 9)]
        assert all(pages.count(p) <= 2 for p in set(pages))  # at most the page in flight at the crash is re-read
        assert standin.max_rate(ACME) <= 7


def test_one_accounts_import_never_starves_anothers(tmp_path: Path):
    port = new_port()
    with AmoStandin(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                    redirect_uri=f"http://127.0.0.1:{port}/amocrm/oauth/callback") as standin:
        standin.seed(ACME, subdomain="acme", contacts=4000, companies=0)  # 16 pages, one a turn
        standin.seed(BETA, subdomain="beta", contacts=30, companies=0, seed=3)
        env = service_env(standin, port, CRM_DEDUP_AMOCRM_IMPORT_SLICE_PAGES="1")
        with serve(tmp_path / "store.duckdb", env, port, tmp_path) as server:
            big = install(server, standin, ACME, "acme")
            small = install(server, standin, BETA, "beta")
            small_job = wait_for("the small import", lambda: job_done(server, BETA, small), server=server)
            big_job = wait_for("the big import", lambda: job_done(server, ACME, big), server=server)
        assert small_job["finished_at"] < big_job["finished_at"]
        pages = [r.at for r in standin.api_requests(ACME) if r.path == "/api/v4/contacts"]
        beta = [r.at for r in standin.api_requests(BETA) if r.path == "/api/v4/contacts"]
        assert max(beta) < max(pages)  # beta's pages were read between acme's, not after them all
