"""The amoCRM routes in-process: not configured, settings errors, refused referers, the per-account switch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from api.settings import Settings
from resolver.accounts import create_account

AMO = {"amocrm_client_id": "cid", "amocrm_client_secret": "client-secret-0123456789abcdef",
       "amocrm_redirect_uri": "https://dedup.example/amocrm/oauth/callback", "public_url": "https://dedup.example",
       "secret_key": "s" * 40}


def _client(tmp_path, **settings: Any) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(db=tmp_path / "t.duckdb", **settings))) as client:
        yield client


@pytest.fixture
def plain(tmp_path) -> Iterator[TestClient]:
    yield from _client(tmp_path)


@pytest.fixture
def amo(tmp_path) -> Iterator[TestClient]:
    yield from _client(tmp_path, **AMO)


def _key(client: TestClient, name: str = "acme") -> dict[str, str]:
    return {"Authorization": f"Bearer {create_account(client.app.state.services.store, name)}"}


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/amocrm/oauth/callback?code=x&referer=acme.amocrm.ru"),
    ("POST", "/amocrm/webhooks/29000000/" + "a" * 43),
    ("GET", "/amocrm/disable?account_id=1&signature=00"),
], ids=["callback", "webhook", "disable"])
def test_without_configuration_the_amocrm_routes_say_so(plain: TestClient, method: str, path: str):
    answer = plain.request(method, path)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert "CRM_DEDUP_AMOCRM_CLIENT_ID" in answer.json()["detail"]


def test_status_needs_a_connection(amo: TestClient):
    answer = amo.get("/v1/amocrm/status", headers=_key(amo))
    assert answer.status_code == 404 and "no amoCRM connection" in answer.json()["detail"]
    assert amo.get("/v1/amocrm/status").status_code == 401


@pytest.mark.parametrize("referer", ["evil.example", "acme.amocrm.ru.evil.example", "127.0.0.1:8080"],
                         ids=["foreign host", "suffix trick", "an address"])
def test_the_callback_refuses_a_referer_that_is_not_amocrm(amo: TestClient, referer: str):
    # the code and the client secret would go to that host next
    answer = amo.get("/amocrm/oauth/callback", params={"code": "abc", "referer": referer})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "referer"


def test_the_callback_refuses_another_integrations_client_id(amo: TestClient):
    answer = amo.get("/amocrm/oauth/callback", params={"code": "abc", "referer": "acme.amocrm.ru",
                                                       "client_id": "someone-else"})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "client_id"


def test_write_back_switch_and_tag(amo: TestClient):
    headers = _key(amo, "29000000")
    store = amo.app.state.services.store
    store.connect_amocrm("29000000", subdomain="acme", api_base="https://acme.amocrm.ru", country="RU", region="RU",
                         tokens="x", secret_hash="h", destination="d", write_back=True, tag="дубль")
    answer = amo.put("/v1/amocrm/settings", json={"write_back": False, "tag": "проверить дубль"}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["write_back"], answer.json()["tag"]) == (False, "проверить дубль")
    bad = amo.put("/v1/amocrm/settings", json={"tag": "x" * 51}, headers=headers)
    assert bad.status_code == 422
    assert amo.put("/v1/amocrm/settings", json={"tag": "a\nb"}, headers=headers).status_code == 422
    other = _key(amo, "beta")
    assert amo.put("/v1/amocrm/settings", json={"write_back": True}, headers=other).status_code == 404


@pytest.mark.parametrize(("settings", "variable"), [
    ({**AMO, "secret_key": None}, "CRM_DEDUP_SECRET_KEY is required"),
    ({**AMO, "secret_key": "short"}, "CRM_DEDUP_SECRET_KEY is too short"),
    ({**AMO, "public_url": "dedup.example"}, "CRM_DEDUP_PUBLIC_URL"),
    ({**AMO, "amocrm_base_url": "ftp://x"}, "CRM_DEDUP_AMOCRM_BASE_URL"),
    ({**AMO, "amocrm_rate": 8}, "amocrm_rate"),
], ids=["no secret key", "short secret key", "public url without scheme", "base url not http", "rate over 7"])
def test_settings_name_the_variable_at_fault(tmp_path, settings: dict[str, Any], variable: str):
    with pytest.raises(ValidationError, match=variable):
        Settings(db=tmp_path / "t.duckdb", **settings)


def test_the_client_secret_verifies_widget_tokens_when_no_jwt_secret_is_set(tmp_path):
    assert Settings(db=tmp_path / "t.duckdb", **AMO).widget_secret == AMO["amocrm_client_secret"]
    assert Settings(db=tmp_path / "t.duckdb", jwt_secret="j" * 20, **AMO).widget_secret == "j" * 20


def test_access_log_lines_hide_the_webhook_secret():
    import logging

    from api.routers.amocrm import HideWebhookSecrets

    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "POST", "/amocrm/webhooks/29000000/s3cr3t-VALUE_x", "1.1", 200), None)
    HideWebhookSecrets().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "POST /amocrm/webhooks/29000000/*** HTTP/1.1" 200'
