"""Settings from the environment (CRM_DEDUP_*), the errors that name the variable, and CORS built from them."""

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from api.settings import AMOCRM_ORIGIN_REGEX, Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for name in [n for n in os.environ if n.startswith("CRM_DEDUP_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_suit_the_embedded_setup():
    settings = Settings()
    assert (settings.db, settings.models_dir, settings.jwt_secret, settings.cors_origins,
            settings.cors_origin_regex, settings.max_batch, settings.max_body_bytes, settings.max_field_chars) == (
        Path("var/crm-dedup.duckdb"), None, None, [], AMOCRM_ORIGIN_REGEX, 10_000, 50_000_000, 2_000)


@pytest.mark.parametrize(("env", "field", "expected"), [
    ({"CRM_DEDUP_DB": "/data/acme.duckdb"}, "db", Path("/data/acme.duckdb")),
    ({"CRM_DEDUP_CORS_ORIGINS": '["https://acme.amocrm.ru", "https://crm.example.org:8443"]'}, "cors_origins",
     ["https://acme.amocrm.ru", "https://crm.example.org:8443"]),
    # a trailing slash and upper case never match a browser's Origin header; they are dropped
    ({"CRM_DEDUP_CORS_ORIGINS": '["https://ACME.amocrm.ru/"]'}, "cors_origins", ["https://acme.amocrm.ru"]),
    ({"CRM_DEDUP_CORS_ORIGINS": '["*"]'}, "cors_origins", ["*"]),
    ({"CRM_DEDUP_CORS_ORIGINS": ""}, "cors_origins", []),
    ({"CRM_DEDUP_CORS_ORIGIN_REGEX": ""}, "cors_origin_regex", None),  # empty: no pattern, only the list
    ({"CRM_DEDUP_CORS_ORIGIN_REGEX": r"https://[a-z]+\.kommo\.com"}, "cors_origin_regex",
     r"https://[a-z]+\.kommo\.com"),
    ({"CRM_DEDUP_JWT_SECRET": "s" * 64}, "jwt_secret", "s" * 64),
    ({"CRM_DEDUP_MAX_BODY_BYTES": "1000", "CRM_DEDUP_MAX_FIELD_CHARS": "10"}, "max_body_bytes", 1000),
    ({"crm_dedup_max_field_chars": "500"}, "max_field_chars", 500),  # names are case-insensitive
], ids=["db", "origins-list", "origin-normalized", "any-origin", "origins-empty", "regex-off", "regex-custom",
        "jwt-secret", "limits", "lowercase-name"])
def test_environment_sets_a_value(monkeypatch, env, field, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert getattr(Settings(), field) == expected


@pytest.mark.parametrize(("env", "message"), [
    ({"CRM_DEDUP_CORS_ORIGINS": "https://acme.amocrm.ru"},
     "CRM_DEDUP_CORS_ORIGINS must be a JSON list such as [\"https://acme.amocrm.ru\"], got 'https://acme.amocrm.ru'"),
    ({"CRM_DEDUP_CORS_ORIGINS": '{"origin": "https://acme.amocrm.ru"}'}, "CRM_DEDUP_CORS_ORIGINS must be a JSON list"),
    ({"CRM_DEDUP_CORS_ORIGINS": '["acme.amocrm.ru"]'},
     "CRM_DEDUP_CORS_ORIGINS: 'acme.amocrm.ru' is not an origin; write scheme://host[:port]"),
    ({"CRM_DEDUP_CORS_ORIGINS": '["https://acme.amocrm.ru/widget"]'},
     "CRM_DEDUP_CORS_ORIGINS: 'https://acme.amocrm.ru/widget' is not an origin"),
    ({"CRM_DEDUP_CORS_ORIGINS": '["нет"]'}, "CRM_DEDUP_CORS_ORIGINS: 'нет' is not an origin"),
    ({"CRM_DEDUP_CORS_ORIGIN_REGEX": "https://(acme"}, "CRM_DEDUP_CORS_ORIGIN_REGEX='https://(acme' is not a regular"),
    ({"CRM_DEDUP_JWT_SECRET": "changethis"}, "CRM_DEDUP_JWT_SECRET is too weak"),
    ({"CRM_DEDUP_JWT_SECRET": "short"}, "CRM_DEDUP_JWT_SECRET is too weak"),
    ({"CRM_DEDUP_DB": "."}, "CRM_DEDUP_DB=. is a directory"),
    ({"CRM_DEDUP_MAX_BODY_BYTES": "10"}, "greater than or equal to 1000"),
], ids=["origins-not-json", "origins-an-object", "origin-no-scheme", "origin-with-path", "origin-junk",
        "regex-broken", "secret-placeholder", "secret-short", "db-is-a-directory", "body-limit-tiny"])
def test_bad_value_is_refused_naming_the_variable(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert message in caught.value.errors()[0]["msg"]


# -- CORS from settings --------------------------------------------------------------------------------

def preflight(client: TestClient, origin: str, *, headers: str = "authorization"):
    return client.options("/v1/whoami", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": headers})


@pytest.mark.parametrize(("origin", "allowed"), [
    ("https://acme.amocrm.ru", True),
    ("https://romashka-2024.amocrm.com", True),
    ("https://crm.example.org", True),                 # listed in cors_origins
    ("https://evil.example", False),
    ("https://acme.amocrm.ru.evil.example", False),    # the pattern must match the whole origin
    ("https://evil.example/acme.amocrm.ru", False),
    ("http://acme.amocrm.ru", False),                  # the widget page is https only
    ("https://a.b.amocrm.ru", False),                  # one subdomain label: the account
    ("https://xn--80akoi.amocrm.ru", True),           # a Cyrillic subdomain as browsers send it (IDNA): still amoCRM
    ("null", False),                                   # a sandboxed iframe or a file:// page
], ids=["amocrm-ru", "amocrm-com", "listed-origin", "evil", "suffix-trick", "path-trick", "plain-http",
        "two-labels", "cyrillic-subdomain-idna", "null-origin"])
def test_preflight_is_allowed_only_from_amocrm_and_listed_origins(tmp_path, origin, allowed):
    settings = Settings(db=tmp_path / "store.duckdb", cors_origins=["https://crm.example.org"])
    with TestClient(create_app(settings)) as client:
        response = preflight(client, origin)
    if allowed:
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == origin
        assert set(response.headers["access-control-allow-headers"].lower().split(", ")) >= {
            "authorization", "x-auth-token", "content-type"}
    else:
        assert response.status_code == 400
        assert "access-control-allow-origin" not in response.headers
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == f"Disallowed CORS origin (origin {origin})"


def test_preflight_for_a_header_we_do_not_take_is_refused(tmp_path):
    with TestClient(create_app(Settings(db=tmp_path / "store.duckdb"))) as client:
        response = preflight(client, "https://acme.amocrm.ru", headers="x-amo-secret")
    assert (response.status_code, response.json()["detail"]) == (
        400, "Disallowed CORS headers (origin https://acme.amocrm.ru)")


def test_simple_request_from_the_widget_gets_the_allow_origin_header(tmp_path):
    with TestClient(create_app(Settings(db=tmp_path / "store.duckdb"))) as client:
        widget = client.get("/healthz", headers={"Origin": "https://acme.amocrm.ru"})
        evil = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert widget.headers["access-control-allow-origin"] == "https://acme.amocrm.ru"
    # the browser, not the server, withholds the answer from a page of another origin
    assert (evil.status_code, "access-control-allow-origin" in evil.headers) == (200, False)


def test_without_the_pattern_only_listed_origins_pass(tmp_path):
    settings = Settings(db=tmp_path / "store.duckdb", cors_origin_regex="", cors_origins=["https://crm.example.org"])
    with TestClient(create_app(settings)) as client:
        statuses = [preflight(client, o).status_code for o in ("https://acme.amocrm.ru", "https://crm.example.org")]
    assert statuses == [400, 200]
