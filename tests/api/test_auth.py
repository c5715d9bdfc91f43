"""Who the caller is: API keys and the amoCRM widget's X-Auth-Token, seen through GET /v1/whoami."""

import os
import time

import jwt
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from resolver.accounts import create_account, rotate_key
from resolver.store import Store

PROBLEM = "application/problem+json"
SECRET = "amo-integration-secret-" + "k" * 41  # 64 characters, as amoCRM issues them
AMO_ACCOUNT = "29085955"  # an amoCRM account id: the widget token's account_id claim
CHALLENGE = 'Bearer realm="crm-dedup"'
INVALID = 'Bearer realm="crm-dedup", error="invalid_token"'


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in [n for n in os.environ if n.startswith("CRM_DEDUP_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def keys(tmp_path) -> dict[str, str]:
    """Accounts `acme` and the amoCRM id AMO_ACCOUNT, registered before the app opens the store."""
    with Store(tmp_path / "store.duckdb") as store:
        return {name: create_account(store, name) for name in ("acme", AMO_ACCOUNT)}


def client_for(tmp_path, **settings) -> TestClient:
    return TestClient(create_app(Settings(db=tmp_path / "store.duckdb", **settings)))


def token(claims: dict, *, key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def now() -> int:
    return int(time.time())


def problem_of(response) -> tuple[int, str, str | None]:
    assert response.headers["content-type"] == PROBLEM, response.text
    body = response.json()
    assert body["status"] == response.status_code
    return response.status_code, body["detail"], response.headers.get("www-authenticate")


# -- API keys ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("header", [
    "Bearer {acme}",
    "bearer {acme}",     # the scheme is case-insensitive (RFC 9110 §11.1)
    "Bearer   {acme}  ",  # spaces around the key are not part of it
], ids=["bearer", "lowercase-scheme", "padded-key"])
def test_api_key_gives_its_account(tmp_path, keys, header):
    with client_for(tmp_path) as client:
        response = client.get("/v1/whoami", headers={"Authorization": header.format(**keys)})
    assert (response.status_code, response.json()) == (200, {"account_id": "acme"})


@pytest.mark.parametrize(("header", "detail"), [
    ("Bearer cdk_not-a-key-of-ours", "unknown API key"),
    ("Bearer {acme}x", "unknown API key"),                                  # one character off
    ("Bearer ", "Authorization: the API key after `Bearer` is empty"),
    ("Basic YWNtZTpzZWNyZXQ=", "Authorization must be `Bearer <API key>`"),  # a password scheme
    ("{acme}", "Authorization must be `Bearer <API key>`"),                  # the key without a scheme
    ("Bearer-{acme}", "Authorization must be `Bearer <API key>`"),
    ("Токен {acme}", "Authorization must be `Bearer <API key>`"),           # Cyrillic scheme (sent as UTF-8)
    ("Bearer ключ", "unknown API key"),                                    # a Cyrillic "key"
], ids=["unknown-key", "key-one-char-off", "empty-key", "basic-scheme", "no-scheme", "dash-not-space",
        "cyrillic-scheme", "cyrillic-key"])
def test_bad_api_key_is_401_problem_with_challenge(tmp_path, keys, header, detail):
    with client_for(tmp_path) as client:
        response = client.get("/v1/whoami", headers={"Authorization": header.format(**keys).encode()})
    assert problem_of(response) == (401, detail, INVALID)


def test_no_credentials_is_401_problem_with_challenge(tmp_path, keys):
    with client_for(tmp_path) as client:
        response = client.get("/v1/whoami")
    assert problem_of(response) == (
        401, "send `Authorization: Bearer <API key>` or the widget's X-Auth-Token", CHALLENGE)
    assert response.json()["title"] == "Unauthorized"


def test_rotated_key_replaces_the_old_one_at_once(tmp_path, keys):
    with Store(tmp_path / "store.duckdb") as store:
        new_key = rotate_key(store, "acme")
    with client_for(tmp_path) as client:
        old = client.get("/v1/whoami", headers={"Authorization": f"Bearer {keys['acme']}"})
        new = client.get("/v1/whoami", headers={"Authorization": f"Bearer {new_key}"})
    assert problem_of(old) == (401, "unknown API key", INVALID)
    assert (new.status_code, new.json()) == (200, {"account_id": "acme"})


def test_authorization_wins_over_a_widget_token(tmp_path, keys):
    # a bad key is not rescued by a good token: the caller meant the key
    good_token = token({"account_id": AMO_ACCOUNT, "exp": now() + 60})
    with client_for(tmp_path, jwt_secret=SECRET) as client:
        response = client.get("/v1/whoami", headers={"Authorization": "Bearer wrong", "X-Auth-Token": good_token})
    assert problem_of(response) == (401, "unknown API key", INVALID)


# -- the widget's X-Auth-Token -----------------------------------------------------------------------

@pytest.mark.parametrize("claims", [
    {"account_id": int(AMO_ACCOUNT), "user_id": 8312, "exp": "+60"},  # amoCRM sends ids as numbers
    {"account_id": AMO_ACCOUNT, "exp": "+60"},
    {"account_id": int(AMO_ACCOUNT), "exp": "+60", "nbf": "-1", "iat": "-1",
     "iss": "https://acme.amocrm.ru", "client_uuid": "0a7e3b2c"},
    {"account_id": int(AMO_ACCOUNT), "exp": "-3"},  # expired 3 s ago: within the 5 s clock-skew leeway
], ids=["numeric-account", "string-account", "all-amocrm-claims", "clock-skew"])
def test_valid_widget_token_gives_its_account(tmp_path, keys, claims):
    claims = {k: now() + int(v) if k in ("exp", "nbf", "iat") else v for k, v in claims.items()}
    with client_for(tmp_path, jwt_secret=SECRET) as client:
        response = client.get("/v1/whoami", headers={"X-Auth-Token": token(claims)})
    assert (response.status_code, response.json()) == (200, {"account_id": AMO_ACCOUNT})


@pytest.mark.parametrize(("make_token", "status", "detail"), [
    (lambda: token({"account_id": AMO_ACCOUNT, "exp": now() - 60}), 401, "X-Auth-Token has expired"),
    (lambda: token({"account_id": AMO_ACCOUNT, "exp": now() + 600, "nbf": now() + 300}), 401,
     "X-Auth-Token is not valid yet (nbf)"),
    (lambda: token({"account_id": AMO_ACCOUNT, "exp": now() + 60}, key="another-integration-" + "s" * 44), 401,
     "X-Auth-Token is invalid: Signature verification failed"),
    # alg "none" carries no signature at all; only HS256 is accepted
    (lambda: jwt.encode({"account_id": AMO_ACCOUNT, "exp": now() + 60}, None, algorithm="none"), 401,
     "X-Auth-Token is invalid: The specified alg value is not allowed"),
    (lambda: token({"account_id": AMO_ACCOUNT, "exp": now() + 60}, algorithm="HS512"), 401,
     "X-Auth-Token is invalid: The specified alg value is not allowed"),
    (lambda: token({"user_id": 8312, "exp": now() + 60}), 401,
     'X-Auth-Token is invalid: Token is missing the "account_id" claim'),
    (lambda: token({"account_id": AMO_ACCOUNT}), 401, 'X-Auth-Token is invalid: Token is missing the "exp" claim'),
    (lambda: token({"account_id": ["29085955"], "exp": now() + 60}), 401,
     "X-Auth-Token is invalid: account_id must be a number or a string"),
    (lambda: token({"account_id": True, "exp": now() + 60}), 401,
     "X-Auth-Token is invalid: account_id must be a number or a string"),
    (lambda: "не-токен", 401, "X-Auth-Token is invalid: Not enough segments"),
    (lambda: token({"account_id": 31000001, "exp": now() + 60}), 403,
     "account 31000001 is not registered with this service"),
    (lambda: token({"account_id": "Ромашка", "exp": now() + 60}), 403,
     "account Ромашка is not registered with this service"),
], ids=["expired", "not-yet-valid", "wrong-signature", "alg-none", "alg-hs512", "no-account-claim", "no-exp-claim",
        "account-is-a-list", "account-is-a-bool", "cyrillic-junk-token", "unregistered-account",
        "cyrillic-unregistered-account"])
def test_bad_widget_token_is_refused_with_a_clear_detail(tmp_path, keys, make_token, status, detail):
    with client_for(tmp_path, jwt_secret=SECRET) as client:
        response = client.get("/v1/whoami", headers={"X-Auth-Token": make_token().encode()})
    code, got_detail, challenge = problem_of(response)
    assert (code, got_detail) == (status, detail)
    assert challenge == (INVALID if status == 401 else None)  # 403: who you are is known, the answer is no


def test_widget_token_without_a_configured_secret_says_so(tmp_path, keys):
    valid_elsewhere = token({"account_id": AMO_ACCOUNT, "exp": now() + 60})
    with client_for(tmp_path) as client:
        response = client.get("/v1/whoami", headers={"X-Auth-Token": valid_elsewhere})
    assert problem_of(response) == (
        401, "X-Auth-Token is not accepted: CRM_DEDUP_JWT_SECRET is not configured", CHALLENGE)


AUDIENCE = "https://crm-dedup.example.org"


@pytest.mark.parametrize(("configured", "aud", "status", "detail"), [
    (None, AUDIENCE, 200, None),   # amoCRM's tokens carry `aud`: accepted when no audience is configured
    (None, None, 200, None),
    (AUDIENCE, AUDIENCE, 200, None),
    (AUDIENCE, "https://other-integration.example.org", 401, "X-Auth-Token is invalid: Audience doesn't match"),
    (AUDIENCE, None, 401, 'X-Auth-Token is invalid: Token is missing the "aud" claim'),
], ids=["aud-unchecked", "no-aud-unchecked", "aud-matches", "aud-differs", "aud-missing"])
def test_widget_token_audience(tmp_path, keys, configured, aud, status, detail):
    claims = {"account_id": int(AMO_ACCOUNT), "exp": now() + 60, **({"aud": aud} if aud else {})}
    with client_for(tmp_path, jwt_secret=SECRET, jwt_audience=configured) as client:
        response = client.get("/v1/whoami", headers={"X-Auth-Token": token(claims)})
    if status == 200:
        assert (response.status_code, response.json()) == (200, {"account_id": AMO_ACCOUNT})
    else:
        assert problem_of(response)[:2] == (status, detail)


# -- token lifetime and issue time ---------------------------------------------------------------------

TEN_YEARS = 10 * 365 * 24 * 3600


@pytest.mark.parametrize(("claims", "max_lifetime", "status", "detail"), [
    ({"iat": "0", "exp": f"+{TEN_YEARS}"}, None, 401,
     f"X-Auth-Token lifetime too long: valid for {TEN_YEARS} s, at most 3600 s allowed"),
    ({"exp": f"+{TEN_YEARS}"}, None, 401,  # no iat: measured from now
     f"X-Auth-Token lifetime too long: valid for {TEN_YEARS} s, at most 3600 s allowed"),
    ({"iat": "-3500", "exp": "+3600"}, None, 401,  # issued long ago for long: exp - iat counts, not what is left
     "X-Auth-Token lifetime too long: valid for 7100 s, at most 3600 s allowed"),
    ({"iat": "0", "exp": "+3600"}, None, 200, None),  # exactly the default maximum (1 hour)
    ({"iat": "0", "exp": "+1200"}, 600, 401, "X-Auth-Token lifetime too long: valid for 1200 s, at most 600 s allowed"),
    ({"iat": "+600", "exp": "+900"}, None, 401, "X-Auth-Token is not valid yet: issued in the future (iat)"),
    ({"iat": "+3", "exp": "+60"}, None, 200, None),  # a few seconds ahead: clock skew, within the leeway
    ({"iat": "not-a-time", "exp": "+60"}, None, 401,
     "X-Auth-Token is invalid: Issued At claim (iat) must be an integer."),
], ids=["ten-year-exp", "ten-year-exp-no-iat", "long-since-issued", "one-hour", "over-configured-max", "future-iat",
        "iat-clock-skew", "junk-iat"])
def test_widget_token_lifetime_and_issue_time(tmp_path, keys, claims, max_lifetime, status, detail):
    settings = {"jwt_max_lifetime_seconds": max_lifetime} if max_lifetime else {}
    with client_for(tmp_path, jwt_secret=SECRET, **settings) as client:
        # the clock read once the app is up: a token without `iat` is measured from the check's `now`,
        # and an app start that crossed a second would shorten the lifetime the answer names
        t0 = now()
        claims = {"account_id": int(AMO_ACCOUNT)} | {
            k: t0 + int(v) if k in ("exp", "iat") and v[0] in "+-0" else v for k, v in claims.items()}
        response = client.get("/v1/whoami", headers={"X-Auth-Token": token(claims)})
    if status == 200:
        assert (response.status_code, response.json()) == (200, {"account_id": AMO_ACCOUNT})
    else:
        assert problem_of(response) == (status, detail, INVALID)


# -- the reviewer comes from the verified token ----------------------------------------------------------

@pytest.mark.parametrize("audience", [None, AUDIENCE], ids=["aud-unchecked", "aud-checked"])
def test_widget_token_with_aud_records_its_user_and_ignores_a_body_reviewer(tmp_path, keys, audience):
    # amoCRM's tokens carry `aud`; the user used to be lost then, and a body `reviewer` overrode it
    widget = token({"account_id": int(AMO_ACCOUNT), "user_id": 8312, "aud": AUDIENCE, "iat": now(),
                    "exp": now() + 600})
    decision = {"entity": "contact", "left_id": "101", "right_id": "102", "decision": "not_duplicate"}
    with client_for(tmp_path, jwt_secret=SECRET, jwt_audience=audience) as client:
        single = client.post("/v1/feedback", json=decision | {"reviewer": "the-boss"},
                             headers={"X-Auth-Token": widget})
        undo = decision | {"reviewer": "the-boss", "decision": "undo"}
        batch = client.post("/v1/feedback", json={"decisions": [undo]}, headers={"X-Auth-Token": widget})
        stored = client.get("/v1/feedback", headers={"X-Auth-Token": widget}).json()["items"]
    assert (single.status_code, batch.status_code) == (201, 201), single.text + batch.text
    assert [(d["decision"], d["reviewer"]) for d in stored] == [("not_duplicate", "8312"), ("undo", "8312")]


def test_widget_token_without_a_user_records_no_reviewer_whatever_the_body_says(tmp_path, keys):
    widget = token({"account_id": AMO_ACCOUNT, "exp": now() + 60})
    decision = {"entity": "contact", "left_id": "101", "right_id": "102", "decision": "duplicate", "reviewer": "x"}
    with client_for(tmp_path, jwt_secret=SECRET) as client:
        response = client.post("/v1/feedback", json=decision, headers={"X-Auth-Token": widget})
    assert (response.status_code, response.json()["decisions"][0]["reviewer"]) == (201, None)


def test_admin_token_never_opens_tenant_routes(tmp_path, keys):
    admin = "adm-" + "z" * 40
    with client_for(tmp_path, admin_token=admin) as client:
        response = client.get("/v1/whoami", headers={"Authorization": f"Bearer {admin}"})
    assert problem_of(response) == (401, "the admin token opens /v1/admin only; send an account's API key", INVALID)
