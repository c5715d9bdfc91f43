"""The API v4 client against the stand-in: paging, rate, retries, refresh, writes, and the OAuth rules."""

from __future__ import annotations

import httpx
import pytest

from amocrm.errors import AmoBadResponse, AmoUnavailable, NeedsReinstall
from amocrm.oauth import OAuthApp, account_host, api_base, exchange_code
from amocrm.standin import AmoStandin
from tests.amocrm.conftest import ACCOUNT, CLIENT_ID, CLIENT_SECRET, REDIRECT, MemoryTokens, make_client

pytestmark = pytest.mark.timeout(120)


def test_pages_follow_next_until_the_last_and_hold_every_record(standin: AmoStandin):
    tokens = MemoryTokens(standin)
    with make_client(standin, tokens) as client:
        pages = list(client.pages("contacts", params=[("with", "leads")]))
    ids = [c["id"] for page in pages for c in page.items]
    assert sorted(ids) == sorted(standin.records(ACCOUNT, "contacts"))  # every record, once
    assert [len(p.items) for p in pages] == [250, 250, 100]
    assert pages[-1].next is None and pages[0].next is not None and pages[0].next.startswith("/api/v4/contacts?")


def test_a_page_past_the_end_is_204_and_ends_the_list(standin: AmoStandin):
    with make_client(standin, MemoryTokens(standin)) as client:
        page = client.page("contacts", "/api/v4/contacts?limit=250&page=99")
    assert page.items == [] and page.next is None
    assert standin.api_requests(ACCOUNT)[-1].status == 204


def test_the_client_never_goes_over_the_documented_rate(standin: AmoStandin):
    tokens = MemoryTokens(standin)
    with make_client(standin, tokens) as client:
        for _ in range(25):
            client.account()
    assert standin.max_rate(ACCOUNT) <= 7
    assert all(r.status == 200 for r in standin.api_requests(ACCOUNT))  # never a 429


@pytest.mark.parametrize("status", [429, 500, 502, 503], ids=["429 storm", "500", "502", "503"])
def test_a_storm_of_errors_is_outlasted_with_backoff(standin: AmoStandin, status: int):
    tokens = MemoryTokens(standin)
    standin.fail_next(6, status)
    with make_client(standin, tokens) as client:
        ids = [c["id"] for p in client.pages("companies") for c in p.items]
        assert client.retries == 6
    assert sorted(ids) == sorted(standin.records(ACCOUNT, "companies"))


def test_retries_are_bounded(standin: AmoStandin):
    standin.fail_next(50, 503)
    with make_client(standin, MemoryTokens(standin), max_retries=3) as client, pytest.raises(AmoUnavailable):
        client.account()
    assert len(standin.api_requests(ACCOUNT)) == 4  # one try and three retries, then it stops


def test_an_expired_token_is_refreshed_once_and_the_request_repeated(standin: AmoStandin):
    tokens = MemoryTokens(standin)
    standin.expire_tokens()
    with make_client(standin, tokens) as client:
        assert client.account()["id"] == ACCOUNT
    assert tokens.refreshes == 1
    assert [(r.path, r.status) for r in standin.api_requests()][-3:] == [
        ("/api/v4/account", 401), ("/oauth2/access_token", 200), ("/api/v4/account", 200)]


def test_a_refused_refresh_is_needs_reinstall_and_never_loops(standin: AmoStandin):
    tokens = MemoryTokens(standin)
    standin.expire_tokens()
    standin.revoke_refresh_tokens()
    with make_client(standin, tokens) as client, pytest.raises(NeedsReinstall):
        client.account()
    assert len([r for r in standin.requests if r.path.startswith("/api/")]) == 1  # one 401, no second try
    assert tokens.refreshes == 1


def test_a_refresh_token_is_single_use(standin: AmoStandin):
    tokens = MemoryTokens(standin)
    used = tokens.tokens.refresh_token
    tokens.refresh(tokens.tokens.access_token)
    from amocrm.oauth import refresh_tokens

    with pytest.raises(NeedsReinstall, match="401"):
        refresh_tokens(httpx.Client(), standin.url, tokens.app, used)


def test_tags_are_added_and_removed_without_touching_the_others(standin: AmoStandin):
    record_id = next(iter(standin.records(ACCOUNT, "contacts")))
    with make_client(standin, MemoryTokens(standin)) as client:
        client.edit_tags("contacts", record_id, add=["vip"])
        client.edit_tags("contacts", record_id, add=["дубль"])
        assert standin.tags_of(ACCOUNT, "contacts", record_id) == {"vip", "дубль"}
        client.edit_tags("contacts", record_id, remove=["дубль"])
    assert standin.tags_of(ACCOUNT, "contacts", record_id) == {"vip"}


def test_notes_create_and_link(standin: AmoStandin):
    company = next(iter(standin.records(ACCOUNT, "companies")))
    with make_client(standin, MemoryTokens(standin)) as client:
        [new_id] = client.create("contacts", [{"name": "Иван Петров", "custom_fields_values": [
            {"field_code": "PHONE", "values": [{"value": "+79161234567", "enum_code": "MOB"}]}]}])
        client.link("contacts", new_id, [{"to_entity_id": company, "to_entity_type": "companies"}])
        client.add_note("contacts", new_id, "Возможный дубль")
        [read] = client.by_ids("contacts", [new_id])
    assert read["name"] == "Иван Петров"
    assert read["_embedded"]["companies"] == [{"id": company}]
    assert [n["params"]["text"] for n in standin.notes(ACCOUNT) if n["entity_id"] == new_id] == ["Возможный дубль"]


def test_by_ids_leaves_out_unknown_and_deleted_ids(standin: AmoStandin):
    ids = list(standin.records(ACCOUNT, "contacts"))[:3]
    standin.delete(ACCOUNT, "contacts", ids[0])
    with make_client(standin, MemoryTokens(standin)) as client:
        found = client.by_ids("contacts", [*ids, 1])
    assert sorted(r["id"] for r in found) == sorted(ids[1:])


def test_updated_since_returns_only_later_changes(standin: AmoStandin):
    record_id = next(iter(standin.records(ACCOUNT, "contacts")))
    changed = standin.change(ACCOUNT, "contacts", record_id, name="Изменённое Имя")
    with make_client(standin, MemoryTokens(standin)) as client:
        found = list(client.updated_since("contacts", changed["updated_at"]))
    assert [r["id"] for r in found] == [record_id]


def test_a_next_link_to_another_list_is_refused(standin: AmoStandin):
    with make_client(standin, MemoryTokens(standin)) as client, pytest.raises(AmoBadResponse):
        client.page("contacts", "https://evil.example/api/v4/contacts?page=2")
    with make_client(standin, MemoryTokens(standin)) as client, pytest.raises(AmoBadResponse):
        client.page("contacts", "/api/v4/account")


def test_an_answer_over_the_size_limit_is_refused(standin: AmoStandin):
    with make_client(standin, MemoryTokens(standin), max_response_bytes=10_000) as client, \
            pytest.raises(AmoBadResponse, match="larger than"):
        client.page("contacts")


def test_webhook_subscription_is_listed_and_removed(standin: AmoStandin):
    with make_client(standin, MemoryTokens(standin)) as client:
        hook = client.subscribe("https://dedup.example/amocrm/webhooks/29000000/s3cret")
        assert hook["destination"].endswith("/s3cret") and "add_contact" in hook["settings"]
        assert [w["destination"] for w in standin.webhooks(ACCOUNT)] == [hook["destination"]]
        client.unsubscribe(hook["destination"])
    assert standin.webhooks(ACCOUNT) == []


@pytest.mark.parametrize(("referer", "host"), [
    ("acme.amocrm.ru", "acme.amocrm.ru"),
    ("https://Acme.amocrm.ru/", "acme.amocrm.ru"),
    ("acme.kommo.com", "acme.kommo.com"),
], ids=["plain", "scheme and case", "kommo"])
def test_account_host_accepts_amocrm_hosts(referer: str, host: str):
    assert account_host(referer) == host


@pytest.mark.parametrize("referer", [
    "evil.example", "acme.amocrm.ru.evil.example", "acme.amocrm.ru@evil.example", "", "a" * 200 + ".amocrm.ru",
    "acme.amocrm.ru:8080",
], ids=["foreign", "suffix trick", "userinfo trick", "empty", "too long", "port"])
def test_account_host_refuses_anything_else(referer: str):
    # the client secret goes to this host next: only amoCRM's own may receive it
    with pytest.raises(ValueError, match="not an amoCRM account host"):
        account_host(referer)


def test_the_base_url_override_replaces_the_account_host():
    assert api_base("acme.amocrm.ru", None) == "https://acme.amocrm.ru"
    assert api_base("acme.amocrm.ru", "http://127.0.0.1:8765/") == "http://127.0.0.1:8765"


def test_a_used_or_unknown_code_is_refused(standin: AmoStandin):
    app = OAuthApp(CLIENT_ID, CLIENT_SECRET, REDIRECT)
    code = standin.issue_code(ACCOUNT)
    with httpx.Client() as http:
        exchange_code(http, standin.url, app, code)
        with pytest.raises(NeedsReinstall):
            exchange_code(http, standin.url, app, code)  # codes are single-use
        with pytest.raises(NeedsReinstall):
            exchange_code(http, standin.url, OAuthApp(CLIENT_ID, "wrong-secret", REDIRECT), standin.issue_code(ACCOUNT))
