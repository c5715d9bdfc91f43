"""Several API keys per account, revoked at once; the admin API; `crm-dedup keys` on the file and through a
running server; failed authentications limited per client address."""

from __future__ import annotations

import hashlib
import warnings
from datetime import UTC, datetime

import duckdb
import httpx
import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about its httpx backend on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from api.deps import AuthFailures
from api.settings import Settings
from resolver.accounts import account_for_key, create_account, create_key, list_keys, revoke_key, rotate_key
from resolver.errors import InputError, NotFound
from resolver.store import open_store
from tests.servers import clean_env, crm_dedup, served

pytestmark = pytest.mark.both_stores  # accounts and keys on the DuckDB and the PostgreSQL store

PROBLEM = "application/problem+json"
ADMIN = "admin-token-" + "a" * 40
ME = "/v1/whoami"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def problem(response, status: int) -> str:
    assert (response.status_code, response.headers["content-type"]) == (status, PROBLEM), response.text
    return str(response.json()["detail"])


@pytest.fixture
def db(tmp_path, database_url):
    """The store: a DuckDB file, or the test's PostgreSQL database (the module runs on both)."""
    return database_url or tmp_path / "store.duckdb"


@pytest.fixture
def other_db(request, tmp_path, backend):
    """A second store beside `db`."""
    if backend == "postgres":
        return request.getfixturevalue("postgres_server").new_database()
    return tmp_path / "on.duckdb"


def app_on(db, **settings):
    if isinstance(db, str):
        return create_app(Settings(database_url=db, **settings))
    return create_app(Settings(db=db, **settings))


# -- the store -----------------------------------------------------------------------------------------

def test_several_keys_work_at_once_and_a_revoked_one_stops_alone(db):
    with open_store(db) as store:
        first = create_account(store, "acme")
        second_id, second = create_key(store, "acme", "1c-sync")
        _, third = create_key(store, "acme")
        create_account(store, "globex")

        assert [account_for_key(store, k) for k in (first, second, third)] == ["acme"] * 3
        revoked = revoke_key(store, "acme", second_id)
        again = revoke_key(store, "acme", second_id)  # a second revoke changes nothing

        assert (account_for_key(store, second), account_for_key(store, first), account_for_key(store, third)) == (
            None, "acme", "acme")
        assert again.revoked_at == revoked.revoked_at is not None
        listed = list_keys(store, "acme")
    assert [(k.label, k.active) for k in listed] == [("initial", True), ("1c-sync", False), (None, True)]
    # the list holds names and times, never a key or its hash
    assert not any(first in str(k) or hashlib.sha256(first.encode()).hexdigest() in str(k) for k in listed)


def test_a_key_of_another_account_cannot_be_revoked_through_this_one(db):
    with open_store(db) as store:
        create_account(store, "acme")
        create_account(store, "globex")
        acme_id, acme_key = create_key(store, "acme")
        with pytest.raises(NotFound, match="account 'globex' has no key"):  # as if it did not exist
            revoke_key(store, "globex", acme_id)
        assert account_for_key(store, acme_key) == "acme"
        with pytest.raises(NotFound, match="account 'nobody' does not exist"):
            create_key(store, "nobody")
        with pytest.raises(InputError, match="field label"):
            create_key(store, "acme", "x" * 101)


def test_rotate_makes_a_new_key_and_revokes_every_other(db):
    with open_store(db) as store:
        first = create_account(store, "acme")
        _, second = create_key(store, "acme", "widget")
        new = rotate_key(store, "acme")
        assert [account_for_key(store, k) for k in (first, second, new)] == [None, None, "acme"]
        assert [(k.label, k.active) for k in list_keys(store, "acme")] == [
            ("initial", False), ("widget", False), ("rotated", True)]


def test_a_store_from_before_api_keys_keeps_its_keys_working(tmp_path):
    # the old layout: one key per account, its hash in accounts.key_hash (DuckDB files only: no old PostgreSQL)
    db = tmp_path / "old.duckdb"
    old_key = "cdk_made-by-an-older-crm-dedup"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE accounts (account_id VARCHAR NOT NULL, key_hash VARCHAR NOT NULL, "
                "created_at TIMESTAMPTZ NOT NULL)")
    con.execute("INSERT INTO accounts VALUES ('acme', ?, ?)",
                [hashlib.sha256(old_key.encode()).hexdigest(), datetime(2026, 1, 1, tzinfo=UTC)])
    con.close()

    for _ in range(2):  # opening twice migrates once
        with open_store(db) as store:
            assert account_for_key(store, old_key) == "acme"
            keys = list_keys(store, "acme")
            assert [(k.label, k.active, k.created_at) for k in keys] == [
                ("migrated", True, datetime(2026, 1, 1, tzinfo=UTC))]
    with open_store(db) as store:  # and the old account takes new keys like any other
        _, new = create_key(store, "acme")
        revoke_key(store, "acme", keys[0].key_id)
        assert (account_for_key(store, old_key), account_for_key(store, new)) == (None, "acme")


# -- the admin API ----------------------------------------------------------------------------------------

def test_keys_made_and_revoked_through_the_admin_api_work_and_stop_at_once(db):
    with TestClient(app_on(db, admin_token=ADMIN)) as client:
        admin = bearer(ADMIN)
        made = client.post("/v1/admin/accounts", json={"name": "acme"}, headers=admin)
        assert made.status_code == 201, made.text
        first = made.json()
        second = client.post("/v1/admin/accounts/acme/keys", json={"label": "1c-sync"}, headers=admin).json()
        third = client.post("/v1/admin/accounts/acme/keys", headers=admin).json()  # no body: no label
        assert [k["label"] for k in (first, second, third)] == ["initial", "1c-sync", None]
        assert [client.get(ME, headers=bearer(k["key"])).json() for k in (first, second, third)] == [
            {"account_id": "acme"}] * 3

        revoked = client.delete(f"/v1/admin/accounts/acme/keys/{second['key_id']}", headers=admin)
        after = [client.get(ME, headers=bearer(k["key"])) for k in (first, second, third)]
        listed = client.get("/v1/admin/accounts/acme/keys", headers=admin)

    assert (revoked.status_code, revoked.json()["active"]) == (200, False)
    assert [r.status_code for r in after] == [200, 401, 200]
    assert problem(after[1], 401) == "unknown API key"
    items = listed.json()["items"]
    assert [(k["key_id"], k["active"]) for k in items] == [
        (first["key_id"], True), (second["key_id"], False), (third["key_id"], True)]
    assert items[0]["last_used_at"] is not None and items[2]["last_used_at"] is not None  # used just now
    assert "key" not in items[0] and first["key"] not in listed.text  # never the key itself


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/v1/admin/accounts", {"name": "mallory"}),
    ("POST", "/v1/admin/accounts/acme/keys", {}),
    ("GET", "/v1/admin/accounts/acme/keys", None),
    ("DELETE", "/v1/admin/accounts/acme/keys/key_000000000000", None),
], ids=["create-account", "create-key", "list-keys", "revoke-key"])
def test_admin_routes_refuse_everything_but_the_admin_token(db, other_db, method, path, body):
    with open_store(db) as store:
        tenant = create_account(store, "acme")
    with TestClient(app_on(db)) as off, TestClient(app_on(other_db, admin_token=ADMIN)) as on:
        answers = {
            "admin API off": off.request(method, path, json=body, headers=bearer(ADMIN)),
            "no credentials": on.request(method, path, json=body),
            "tenant key": on.request(method, path, json=body, headers=bearer(tenant)),
            "admin token one character off": on.request(method, path, json=body, headers=bearer(ADMIN[:-1] + "b")),
            "admin token without Bearer": on.request(method, path, json=body, headers={"Authorization": ADMIN}),
        }
    assert problem(answers.pop("admin API off"), 404) == (
        "the admin API is off: set CRM_DEDUP_ADMIN_TOKEN (32+ characters) to turn it on")
    assert problem(answers.pop("no credentials"), 401) == (
        "send `Authorization: Bearer <admin token>` (CRM_DEDUP_ADMIN_TOKEN)")
    for why, response in answers.items():
        assert problem(response, 401) == "not the admin token (an account's API key does not open /v1/admin)", why


@pytest.mark.parametrize(("method", "path", "body", "status", "detail"), [
    ("POST", "/v1/admin/accounts", {"name": "acme"}, 409, "account 'acme' already exists"),
    ("POST", "/v1/admin/accounts", {"name": "../etc"}, 422, None),
    ("POST", "/v1/admin/accounts/nobody/keys", {}, 404,
     "account 'nobody' does not exist; create it with `crm-dedup accounts create nobody`"),
    ("POST", "/v1/admin/accounts/acme/keys", {"label": "x" * 101}, 422, None),
    ("GET", "/v1/admin/accounts/nobody/keys", None, 404,
     "account 'nobody' does not exist; create it with `crm-dedup accounts create nobody`"),
    ("DELETE", "/v1/admin/accounts/acme/keys/key_000000000000", None, 404,
     "account 'acme' has no key 'key_000000000000'; `crm-dedup keys list --account acme` shows its keys"),
    ("DELETE", "/v1/admin/accounts/acme/keys/key_NOT-HEX", None, 422, None),
], ids=["account-exists", "bad-name", "no-such-account", "long-label", "list-no-account", "no-such-key",
        "bad-key-id"])
def test_admin_api_bad_requests_are_problems(db, method, path, body, status, detail):
    with open_store(db) as store:
        create_account(store, "acme")
    with TestClient(app_on(db, admin_token=ADMIN)) as client:
        response = client.request(method, path, json=body, headers=bearer(ADMIN))
    got = problem(response, status)
    if detail:
        assert got == detail


def test_admin_routes_are_documented(db):
    with TestClient(app_on(db)) as client:
        paths = client.get("/openapi.json").json()["paths"]
    admin = {(m, p) for p, ops in paths.items() if p.startswith("/v1/admin") for m in ops}
    assert admin == {("post", "/v1/admin/accounts"), ("post", "/v1/admin/accounts/{account_id}/keys"),
                     ("get", "/v1/admin/accounts/{account_id}/keys"),
                     ("delete", "/v1/admin/accounts/{account_id}/keys/{key_id}")}
    for method, path in admin:
        op = paths[path][method]
        assert op["summary"] and {"401", "404", "429"} <= set(op["responses"]), (method, path)


def test_admin_token_shorter_than_32_characters_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("CRM_DEDUP_ADMIN_TOKEN", "short")
    assert main(["keys", "list", "--account", "acme", "--db", ":memory:"]) == 2
    assert "CRM_DEDUP_ADMIN_TOKEN is too short" in capsys.readouterr().err


# -- failed authentications per client address ------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_eleventh_failure_from_one_address_is_429_until_the_window_passes(db):
    with open_store(db) as store:
        good = create_account(store, "acme")
    app = app_on(db, admin_token=ADMIN)
    with TestClient(app, client=("203.0.113.7", 40000)) as attacker:
        clock = Clock()
        app.state.auth_failures.clock = clock
        neighbour = TestClient(app, client=("198.51.100.2", 40000))
        # widget tokens, admin tokens and API keys all count; a request without credentials does not
        failures = [attacker.get(ME, headers=bearer(f"cdk_guess-{i}")) for i in range(8)]
        failures.append(attacker.get(ME, headers={"X-Auth-Token": "not-a-token"}))
        without = attacker.get(ME)  # not counted: else the next failure would already be the 11th
        failures.append(attacker.get("/v1/admin/accounts/acme/keys", headers=bearer("guess")))
        clock.now += 30
        eleventh = attacker.get(ME, headers=bearer("cdk_guess-10"))
        good_from_attacker = attacker.get(ME, headers=bearer(good))  # a blocked address stops guessing at all
        good_from_neighbour = neighbour.get(ME, headers=bearer(good))
        clock.now += 30  # the first failure leaves the window
        after_window = attacker.get(ME, headers=bearer(good))

    assert [r.status_code for r in failures] == [401] * 10
    assert problem(without, 401)
    assert problem(eleventh, 429) == "too many failed authentications from 203.0.113.7; try again in 30 s"
    assert eleventh.headers["retry-after"] == "30"
    assert problem(good_from_attacker, 429)
    assert (good_from_neighbour.status_code, after_window.status_code) == (200, 200)


def test_successes_never_count_and_the_limit_can_be_turned_off(db):
    with open_store(db) as store:
        good = create_account(store, "acme")
    with TestClient(app_on(db)) as client:
        answers = [client.get(ME, headers=bearer(good)).status_code for _ in range(30)]
    with TestClient(app_on(db, auth_fail_limit=0)) as client:
        bad = [client.get(ME, headers=bearer("cdk_wrong")).status_code for _ in range(30)]
    assert (set(answers), set(bad)) == ({200}, {401})


def test_tracked_addresses_are_bounded_and_the_oldest_go_first():
    clock = Clock()
    failures = AuthFailures(limit=2, window_seconds=60, max_addresses=3, clock=clock)
    for address in ("a", "b", "a", "c", "d"):  # "a" blocked, then "d" pushes out the least recent: "b"
        failures.failed(address)
    assert len(failures) == 3
    assert (failures.retry_after("a"), failures.retry_after("b")) == (60, None)
    failures.failed("e")  # "a" failed least recently now
    assert (len(failures), failures.retry_after("a")) == (3, None)


# -- the CLI ------------------------------------------------------------------------------------------------

def test_cli_keys_on_the_store_file(db, capsys):
    assert main(["accounts", "create", "acme", "--db", str(db)]) == 0
    first = capsys.readouterr().out.splitlines()[-1]
    assert main(["keys", "create", "--account", "acme", "--label", "1c-sync", "--db", str(db)]) == 0
    made = capsys.readouterr()
    second = made.out.splitlines()[-1]
    assert main(["keys", "list", "--account", "acme", "--db", str(db)]) == 0
    table = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    second_id = table[2][0]
    assert second_id in made.err
    assert main(["keys", "revoke", second_id, "--account", "acme", "--db", str(db)]) == 0
    revoked = capsys.readouterr().err
    assert main(["keys", "revoke", "key_000000000000", "--account", "acme", "--db", str(db)]) == 1
    missing = capsys.readouterr().err

    assert table[0] == ["key_id", "label", "created_at", "revoked_at", "last_used_at"]
    assert [(row[1], row[3]) for row in table[1:]] == [("initial", "-"), ("1c-sync", "-")]
    assert f"key {second_id} of account 'acme' is revoked" in revoked
    assert missing == ("crm-dedup: error: account 'acme' has no key 'key_000000000000'; "
                       "`crm-dedup keys list --account acme` shows its keys\n")
    with open_store(db) as store:
        assert (account_for_key(store, first), account_for_key(store, second)) == ("acme", None)


def test_cli_keys_through_a_running_server(tmp_path, db):
    """While a real server holds the store: the file is locked, the admin API does the work, at once."""
    env = clean_env(CRM_DEDUP_ADMIN_TOKEN=ADMIN)
    created = crm_dedup("accounts", "create", "acme", "--db", str(db), env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    first = created.stdout.splitlines()[-1]

    with served(db, env=env, cwd=tmp_path) as server:
        locked = crm_dedup("keys", "list", "--account", "acme", "--db", str(db), env=env, cwd=tmp_path)
        made = crm_dedup("keys", "create", "--account", "acme", "--label", "widget", "--url", server.url,
                         env=env, cwd=tmp_path)
        second = made.stdout.splitlines()[-1]
        works = httpx.get(f"{server.url}{ME}", headers=bearer(second))
        # CRM_DEDUP_URL instead of --url
        listed = crm_dedup("keys", "list", "--account", "acme", env=env | {"CRM_DEDUP_URL": server.url},
                           cwd=tmp_path)
        second_id = listed.stdout.splitlines()[2].split("\t")[0]
        revoked = crm_dedup("keys", "revoke", second_id, "--account", "acme", "--url", server.url, env=env,
                            cwd=tmp_path)
        after = [httpx.get(f"{server.url}{ME}", headers=bearer(k)) for k in (first, second)]
        no_token = crm_dedup("keys", "list", "--account", "acme", "--url", server.url,
                             env=clean_env(CRM_DEDUP_ADMIN_TOKEN="w" * 40), cwd=tmp_path)
        # a new account, and a leaked key rotated, while the server runs
        globex = crm_dedup("accounts", "create", "globex", "--url", server.url, env=env, cwd=tmp_path)
        globex_key = globex.stdout.splitlines()[-1]
        rotated = crm_dedup("accounts", "rotate-key", "globex", "--url", server.url, env=env, cwd=tmp_path)
        globex_answers = [httpx.get(f"{server.url}{ME}", headers=bearer(k))
                          for k in (globex_key, rotated.stdout.splitlines()[-1])]
        # behind a proxy on the same host (uvicorn trusts X-Forwarded-For from 127.0.0.1 by default) each
        # client is limited on its own address, not the proxy's
        proxied = {"X-Forwarded-For": "203.0.113.9"}
        guesses = [httpx.get(f"{server.url}{ME}", headers=bearer(f"cdk_guess-{i}") | proxied) for i in range(11)]
        direct = httpx.get(f"{server.url}{ME}", headers=bearer(first))
        code, log = server.stop()

    if isinstance(db, str):  # PostgreSQL: the CLI works on the database beside the running server
        assert locked.returncode == 0 and locked.stdout.splitlines()[1].split("\t")[1] == "initial", locked.stderr
    else:
        assert (locked.returncode, locked.stderr) == (1, (
            f"crm-dedup: error: store {db} is held by a running server (DuckDB lets one process open it); run the "
            "same command through the server's admin API: add --url http://127.0.0.1:8000 (or set CRM_DEDUP_URL) "
            "with CRM_DEDUP_ADMIN_TOKEN set to the server's admin token\n"))
    assert made.returncode == 0, made.stderr
    assert (works.status_code, works.json()) == (200, {"account_id": "acme"})
    assert listed.returncode == 0, listed.stderr
    assert [line.split("\t")[1] for line in listed.stdout.splitlines()[1:]] == ["initial", "widget"]
    assert revoked.returncode == 0, revoked.stderr
    assert [r.status_code for r in after] == [200, 401]
    assert (no_token.returncode, no_token.stderr) == (1, (
        f"crm-dedup: error: not the admin token (an account's API key does not open /v1/admin) "
        f"(HTTP 401 from {server.url})\n"))
    assert (globex.returncode, rotated.returncode) == (0, 0), globex.stderr + rotated.stderr
    assert [r.status_code for r in globex_answers] == [401, 200]
    assert globex_answers[1].json() == {"account_id": "globex"}
    assert [r.status_code for r in guesses] == [401] * 10 + [429]
    assert guesses[-1].json()["detail"].startswith("too many failed authentications from 203.0.113.9; try again in")
    assert direct.status_code == 200
    assert code == 0 and "Traceback" not in log, log
