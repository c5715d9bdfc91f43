"""The real-time check under concurrent clients, on a real uvicorn server: the same answers as one at a time,
writes seen by the next check, revoked keys refused, tenants kept apart. Behaviour only, never time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from resolver.accounts import KeyCache, account_for_key, create_account, forget_cached_keys, revoke_key
from resolver.store import open_store
from tests.servers import Served, clean_env, served
from training.synthetic import generate_contacts

pytestmark = pytest.mark.both_stores  # DuckDB answers from memory on the event loop; PostgreSQL asks the store

ADMIN = "admin-token-" + "c" * 40
CHECK = "/v1/contacts/check"
THREADS = 8


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _body(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if k not in ("id", "_links")}


@pytest.fixture(scope="module")
def contacts() -> list[dict[str, Any]]:
    return generate_contacts(600, seed=31).entities


@pytest.fixture
def server(tmp_path: Path, store_target: str | Path) -> Iterator[Served]:
    with served(store_target, env=clean_env(CRM_DEDUP_ADMIN_TOKEN=ADMIN, CRM_DEDUP_AUTH_FAIL_LIMIT="0"),
                cwd=tmp_path) as running:
        yield running


def _account(http: httpx.Client, name: str) -> dict[str, str]:
    made = http.post("/v1/admin/accounts", json={"name": name}, headers=bearer(ADMIN))
    assert made.status_code == 201, made.text
    return {"key": made.json()["key"], "key_id": made.json()["key_id"]}


def _load(http: httpx.Client, key: str, records: list[dict[str, Any]]) -> None:
    response = http.post("/v1/contacts:batch", json={"records": records}, headers=bearer(key))
    assert response.status_code == 200 and response.json()["rejected"] == [], response.text


def _answer(http: httpx.Client, key: str, body: dict[str, Any]) -> tuple[int, Any]:
    response = http.post(CHECK, json=body, headers=bearer(key))
    return response.status_code, response.json()


def test_concurrent_checks_answer_exactly_as_sequential_ones(server, contacts):
    probes = [_body(e) for e in contacts[::3]] + [_body(e) for e in generate_contacts(60, seed=32).entities]
    with httpx.Client(base_url=server.url, timeout=120) as http:
        key = _account(http, "acme")["key"]
        _load(http, key, contacts)
        sequential = [_answer(http, key, p) for p in probes]
        with ThreadPoolExecutor(THREADS) as pool:  # one connection each: requests really overlap
            clients = threading.local()

            def one(body: dict[str, Any]) -> tuple[int, Any]:
                if not hasattr(clients, "http"):
                    clients.http = httpx.Client(base_url=server.url, timeout=120)
                return _answer(clients.http, key, body)

            concurrent = list(pool.map(one, probes * 2))
    assert all(status == 200 for status, _ in sequential)
    assert sum(1 for _, a in sequential if a["matches"]) > len(contacts[::3]) // 2  # stored people are found
    assert concurrent == sequential * 2


def test_a_write_is_seen_by_the_next_check_while_others_check(server, contacts):
    probe = {"name": "Евлампий Кондратьевич Зябликов", "custom_fields_values": [
        {"field_code": "PHONE", "values": [{"value": "+7 913 555-01-77"}]}]}
    with httpx.Client(base_url=server.url, timeout=120) as http:
        key = _account(http, "acme")["key"]
        _load(http, key, contacts)
        stop = threading.Event()
        background: list[int] = []

        def keep_checking() -> None:  # other clients' checks keep the index busy meanwhile
            with httpx.Client(base_url=server.url, timeout=120) as other:
                i = 0
                while not stop.is_set():
                    background.append(_answer(other, key, _body(contacts[i % len(contacts)]))[0])
                    i += 1

        threads = [threading.Thread(target=keep_checking) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            before = _answer(http, key, probe)[1]["matches"]
            _load(http, key, [{"id": "9100001", "name": "Зябликов Евлампий", "phones": ["8 (913) 555-01-77"]}])
            after_upsert = [m["record_id"] for m in _answer(http, key, probe)[1]["matches"]]
            changed = http.put("/v1/contacts/9100001", headers=bearer(key),
                               json={"name": "Зябликов Евлампий", "phones": ["+7 913 000-99-11"]})
            after_change = [m["record_id"] for m in _answer(http, key, probe)[1]["matches"]]
            _load(http, key, [{"id": "9100001", "name": "Зябликов Евлампий", "phones": ["+7 913 555-01-77"],
                               "updated_at": "2099-01-01T00:00:00Z"}])
            back = [m["record_id"] for m in _answer(http, key, probe)[1]["matches"]]
            deleted = http.delete("/v1/contacts/9100001", headers=bearer(key))
            after_delete = [m["record_id"] for m in _answer(http, key, probe)[1]["matches"]]
        finally:
            stop.set()
            for t in threads:
                t.join()
    assert before == []
    assert after_upsert == ["9100001"]
    assert changed.status_code == 200, changed.text
    assert after_change == []  # its phone changed: no longer this probe's duplicate
    assert back == ["9100001"]
    assert deleted.status_code == 200, deleted.text
    assert after_delete == []
    assert background and set(background) == {200}


def test_a_revoked_or_rotated_key_is_refused_from_the_next_request(server, contacts):
    body = _body(contacts[0])
    with httpx.Client(base_url=server.url, timeout=120) as http:
        first = _account(http, "acme")
        second = http.post("/v1/admin/accounts/acme/keys", json={"label": "sync"}, headers=bearer(ADMIN)).json()
        _load(http, first["key"], contacts[:50])
        used = [_answer(http, k, body)[0] for k in (first["key"], second["key"]) for _ in range(3)]  # cached now
        revoked = http.delete(f"/v1/admin/accounts/acme/keys/{second['key_id']}", headers=bearer(ADMIN))
        after_revoke = [_answer(http, k, body)[0] for k in (second["key"], first["key"])]
        # the CLI's `accounts rotate-key` through the server does this: every other key stops
        globex = _account(http, "globex")
        _answer(http, globex["key"], body)
        http.delete(f"/v1/admin/accounts/globex/keys/{globex['key_id']}", headers=bearer(ADMIN))
        after_globex = _answer(http, globex["key"], body)[0]
    assert used == [200] * 6
    assert revoked.status_code == 200, revoked.text
    assert after_revoke == [401, 200]
    assert after_globex == 401


def test_tenants_stay_apart_under_concurrent_checks(server, contacts):
    half = len(contacts) // 2
    with httpx.Client(base_url=server.url, timeout=120) as http:
        acme, globex = _account(http, "acme")["key"], _account(http, "globex")["key"]
        _load(http, acme, contacts[:half])
        _load(http, globex, contacts[half:])
        own = {acme: {str(e["id"]) for e in contacts[:half]}, globex: {str(e["id"]) for e in contacts[half:]}}
        jobs = [(k, _body(e)) for e in contacts[::4] for k in (acme, globex)]
        clients = threading.local()

        def one(job: tuple[str, dict[str, Any]]) -> tuple[str, set[str]]:
            if not hasattr(clients, "http"):
                clients.http = httpx.Client(base_url=server.url, timeout=120)
            status, answer = _answer(clients.http, job[0], job[1])
            assert status == 200, answer
            return job[0], {m["record_id"] for m in answer["matches"]}

        with ThreadPoolExecutor(THREADS) as pool:
            answers = list(pool.map(one, jobs))
    assert all(found <= own[key] for key, found in answers)
    assert all(any(found for k, found in answers if k == key) for key in (acme, globex))  # both found their own


# -- the key cache itself (resolver/accounts.py), on a store of either kind -----------------------------------

class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_key_cache_keeps_known_keys_for_its_lifetime_and_forgets_on_revoke(store_target):
    clock = _Clock()
    with open_store(store_target) as store:
        key = create_account(store, "acme")
        cache = KeyCache(5.0, clock=clock)
        assert cache.cached(key) is None and cache.account(store, "cdk_unknown") is None
        assert cache.account(store, key) == "acme" and cache.cached(key) == "acme"
        assert cache.cached("cdk_unknown") is None  # an unknown key is never kept
        # revoked behind this process's back (another process): the cache answers until it expires
        store.revoke_api_keys("acme", datetime.now(UTC))
        assert account_for_key(store, key) is None
        clock.now += 4.9
        assert cache.account(store, key) == "acme"
        clock.now += 0.2
        assert cache.account(store, key) is None

        other = create_account(store, "globex")
        assert cache.account(store, other) == "globex"
        revoke_key(store, "globex", store.api_keys("globex")[0].key_id)  # this process: at once
        assert cache.cached(other) is None and cache.account(store, other) is None

        third = create_account(store, "initech")
        off = KeyCache(0.0, clock=clock)
        assert off.account(store, third) == "initech" and off.cached(third) is None


def test_key_cache_is_bounded(store_target):
    with open_store(store_target) as store:
        keys = [create_account(store, f"a{i}") for i in range(5)]
        cache = KeyCache(60.0, max_keys=3)
        for k in keys:
            cache.account(store, k)
        assert [cache.cached(k) for k in keys] == [None, None, "a2", "a3", "a4"]
        forget_cached_keys()
        assert [cache.cached(k) for k in keys] == [None] * 5
