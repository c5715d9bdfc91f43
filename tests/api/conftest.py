"""API fixtures: the real app on a DuckDB file in tmp_path, accounts with keys, record builders, a scanned base."""

from __future__ import annotations

import csv
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about its httpx backend on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from api.settings import Settings
from api.worker import Worker
from resolver.accounts import create_account
from resolver.groups import mint_group_id
from resolver.store import Store

PROBLEM = "application/problem+json"
JOB_TIMEOUT_S = 120.0  # a generous ceiling for a stuck job, not a speed target


class Api:
    """A client of one app on its own store file, with helpers to make accounts and follow jobs."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    @property
    def store(self) -> Store:
        return self.client.app.state.services.store  # type: ignore[attr-defined]

    def account(self, name: str) -> dict[str, str]:
        """Create account `name`; the headers that authenticate as it."""
        return {"Authorization": f"Bearer {create_account(self.store, name)}"}

    def wait(self, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
        """Poll a job until it is done or failed; its last state."""
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while time.monotonic() < deadline:
            job = self.client.get(f"/v1/jobs/{job_id}", headers=headers).json()
            if job["status"] in ("done", "failed"):
                return job
            time.sleep(0.02)
        raise AssertionError(f"job {job_id} did not finish in {JOB_TIMEOUT_S} s")

    def scan(self, headers: dict[str, str], entity: str | None = "contact") -> dict[str, Any]:
        """Run a scan job to its end; the finished job (asserted done)."""
        response = self.client.post("/v1/jobs/scan", json={"entity": entity}, headers=headers)
        assert response.status_code == 202, response.text
        job = self.wait(response.json()["job_id"], headers)
        assert job["status"] == "done", job
        return job

    def upsert(self, headers: dict[str, str], records: list[dict[str, Any]], entity: str = "contacts") -> None:
        response = self.client.post(f"/v1/{entity}:batch", json={"records": records}, headers=headers)
        assert response.status_code == 200 and response.json()["rejected"] == [], response.text


def clear_crm_dedup_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # a developer's CRM_DEDUP_* variables must not change the settings a test builds
    for name in [n for n in os.environ if n.startswith("CRM_DEDUP_")]:
        monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _no_crm_dedup_env(monkeypatch):
    clear_crm_dedup_env(monkeypatch)


def open_api(path, database_url: str | None = None, **settings: Any) -> Iterator[Api]:
    """The app on `path` (or on the PostgreSQL database `database_url`) with `settings`, started (lifespan)
    and stopped with its job runner. On PostgreSQL the app only queues jobs: a job worker (api/worker.py,
    the code `crm-dedup worker` runs) works beside it in a thread, on the app's store."""
    app = create_app(Settings(db=path, database_url=database_url, **settings))
    with TestClient(app) as client:
        stop = threading.Event()
        worker = None
        if database_url is not None:
            services = app.state.services
            worker = threading.Thread(target=Worker(services, poll_seconds=0.05).run, args=(stop,), daemon=True)
            worker.start()
        try:
            yield Api(client)
        finally:
            stop.set()
            if worker is not None:
                worker.join(JOB_TIMEOUT_S)
            runner = getattr(app.state, "jobs", None)
            if runner is not None:  # before the lifespan closes the store under it
                runner.stop()


@pytest.fixture
def api(tmp_path, database_url) -> Iterator[Api]:
    yield from open_api(tmp_path / "api.duckdb", database_url)


@pytest.fixture
def make_api(request, tmp_path, backend) -> Iterator[Callable[..., Api]]:
    """An app with settings of the test's own (`make_api(max_batch=2)`), each on a store of its own."""
    opened: list[Iterator[Api]] = []

    def make(**settings: Any) -> Api:
        url = request.getfixturevalue("postgres_server").new_database() if backend == "postgres" else None
        gen = open_api(tmp_path / f"api{len(opened)}.duckdb", url, **settings)
        opened.append(gen)
        return next(gen)

    yield make
    for gen in opened:
        gen.close()


@pytest.fixture
def acme(api) -> dict[str, str]:
    return api.account("acme")


# --- builders ---------------------------------------------------------------------------------------

def flat(record_id: str | None, name: str | None = None, phones=(), emails=(), **fields: Any) -> dict[str, Any]:
    """A record in the flat shape (only the keys given)."""
    body: dict[str, Any] = {} if record_id is None else {"id": record_id}
    if name is not None:
        body["name"] = name
    if phones:
        body["phones"] = list(phones)
    if emails:
        body["emails"] = list(emails)
    return body | fields


def amocrm(record_id: int | str | None, name: str | None = None, phones=(), emails=(), *,
           updated_at: Any = None, leads=(), companies=()) -> dict[str, Any]:
    """A contact or company as amoCRM API v4 returns it: custom_fields_values and _embedded."""
    fields = []
    if phones:
        fields.append({"field_id": 100001, "field_name": "Телефон", "field_code": "PHONE",
                       "values": [{"value": p, "enum_code": "WORK"} for p in phones]})
    if emails:
        fields.append({"field_id": 100002, "field_name": "Email", "field_code": "EMAIL",
                       "values": [{"value": e, "enum_code": "WORK"} for e in emails]})
    body: dict[str, Any] = {
        "name": name, "responsible_user_id": 504141, "is_deleted": False, "custom_fields_values": fields or None,
        "_embedded": {"tags": [], "companies": [{"id": c} for c in companies],
                      "leads": [{"id": lead, "status_id": status} for lead, status in leads]},
    }
    if record_id is not None:
        body["id"] = record_id
    if updated_at is not None:
        body["updated_at"] = updated_at
    return body


def problem(response, status: int) -> dict[str, Any]:
    """The problem+json body of an error response, checked for its status and media type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM, response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"], body
    return body


# A small base; the groups a scan must find, and why (as in tests/resolver/test_scan.py):
#   {101, 102, 103}: one person as "Петров Иван" / "Иван Петров" with one phone in two spellings, and the
#                    contact telephony made for a call from that phone; joined by a shared phone only -> review;
#   {401, 402}:      one name (the patronymic set apart) and one email in two cases;
#   104 (a namesake with another phone), 301-303 (junk names, nothing to link on) stay alone.
PEOPLE = [
    flat("101", "Петров Иван", ["+7 916 123-45-67"], updated_at="2024-05-01T10:00:00Z"),
    flat("102", "Иван Петров", ["8 916 123 45 67"], updated_at="2024-05-02T10:00:00Z"),
    flat("103", "Новый контакт по звонку с +79161234567 из UIS"),
    flat("104", "Иван Петров", ["+7 903 000-11-22"]),
    flat("301", "-"),
    flat("302", "-"),
    flat("303", "нет"),
    flat("401", "Сергей Орлов", emails=["s.orlov@yandex.ru"]),
    flat("402", "Орлов Сергей Петрович", ["+7 903 555-11-22"], ["S.Orlov@Yandex.ru"]),
]
PETROV = ("101", "102", "103")
ORLOV = ("401", "402")
PETROV_GROUP = mint_group_id("contact", PETROV)  # new group ids hash their members: known in advance
ORLOV_GROUP = mint_group_id("contact", ORLOV)


@pytest.fixture
def scanned(api, acme) -> dict[str, Any]:
    """Account acme with PEOPLE stored and scanned; the finished scan job."""
    api.upsert(acme, PEOPLE)
    return api.scan(acme)


@pytest.fixture(scope="module")
def scanned_once(tmp_path_factory) -> Iterator[tuple[Api, dict[str, str]]]:
    """(api, acme headers) with PEOPLE stored and scanned once per module: for tests that only read."""
    with pytest.MonkeyPatch.context() as env:
        clear_crm_dedup_env(env)
        apis = open_api(tmp_path_factory.mktemp("scanned") / "api.duckdb")
        api = next(apis)
        acme = api.account("acme")
        api.upsert(acme, PEOPLE)
        api.scan(acme)
        yield api, acme
        apis.close()


def has_route(api: Api, method: str, path: str) -> bool:
    """Whether the app serves `method path` (a path template such as `/v1/{entity}/check`).

    Routes other engineers add (check, duplicates) are tested here only once they exist.
    """
    return method.lower() in api.client.app.openapi()["paths"].get(path, {})  # type: ignore[attr-defined]


def require_route(api: Api, method: str, path: str) -> None:
    if not has_route(api, method, path):
        pytest.skip(f"{method} {path} is not served yet")


def cli(capsys, *argv):
    """Run crm-dedup in-process without progress bars; (exit code, stdout, stderr)."""
    try:
        code = main([*map(str, argv), "-q"])
    except SystemExit as exc:  # argparse refuses bad arguments by exiting
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    """For CLI tests (`pytestmark = pytest.mark.usefixtures("cli_env")`): a developer's own store must not
    leak in, and the default var/ store must land in tmp_path."""
    monkeypatch.delenv("CRM_DEDUP_DB", raising=False)
    monkeypatch.delenv("CRM_DEDUP_MODELS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)


def write_csv(path: Path, rows: Sequence[Sequence[Any]], delimiter: str = ",") -> Path:
    """`rows` (the header first) written to `path` as a CSV file in UTF-8."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path
