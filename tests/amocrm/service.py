"""The service (`crm-dedup serve` in a subprocess) wired to an amoCRM stand-in, and helpers to wait on it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt

from amocrm.standin import AmoStandin
from tests.amocrm.conftest import CLIENT_ID, CLIENT_SECRET
from tests.servers import Served, clean_env, free_port, wait_until_answers

SECRET_KEY = "k" * 48
_T = TypeVar("_T")


def service_env(standin: AmoStandin, port: int, **extra: str) -> dict[str, str]:
    return clean_env(
        CRM_DEDUP_AMOCRM_CLIENT_ID=CLIENT_ID, CRM_DEDUP_AMOCRM_CLIENT_SECRET=CLIENT_SECRET,
        CRM_DEDUP_AMOCRM_REDIRECT_URI=f"http://127.0.0.1:{port}/amocrm/oauth/callback",
        CRM_DEDUP_PUBLIC_URL=f"http://127.0.0.1:{port}", CRM_DEDUP_AMOCRM_BASE_URL=standin.url,
        CRM_DEDUP_SECRET_KEY=SECRET_KEY, CRM_DEDUP_AMOCRM_BACKOFF_SECONDS="0.05", **extra)


@contextmanager
def serve(db: Path, env: dict[str, str], port: int, cwd: Path) -> Iterator[Served]:
    """`python -m api.cli serve` on `port` (the stand-in must know it before: redirect URI, webhooks)."""
    log = cwd / f"serve-{port}-{time.monotonic_ns()}.log"
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--db", str(db)],
            env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    server = Served(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until_answers(process, f"{server.url}/healthz", log)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def new_port() -> int:
    return free_port()


def widget_token(account_id: int, user_id: int = 504141) -> str:
    """The widget's X-Auth-Token as amoCRM makes it: HS256 with the integration's client secret."""
    now = int(time.time())
    return jwt.encode({"account_id": account_id, "user_id": user_id, "iat": now, "exp": now + 600,
                       "subdomain": "acme"}, CLIENT_SECRET, algorithm="HS256")


def api(server: Served, account_id: int) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"X-Auth-Token": widget_token(account_id)}, timeout=30)


def wait_for(what: str, probe: Callable[[], _T | None], *, seconds: float = 120, server: Served | None = None) -> _T:
    """Poll `probe` until it returns something truthy; fail naming `what` (and the server's log) after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            log = server.log.read_text()[-4000:] if server is not None else ""
            raise AssertionError(f"timed out waiting for {what}\n{log}")
        time.sleep(0.1)  # polling another process


def install(server: Served, standin: AmoStandin, account_id: int, subdomain: str) -> str:
    """The redirect amoCRM makes after "Разрешить"; returns the import job's id from the page."""
    answer = httpx.get(f"{server.url}/amocrm/oauth/callback", timeout=60, params={
        "code": standin.issue_code(account_id), "referer": f"{subdomain}.amocrm.ru", "state": "x"})
    assert answer.status_code == 200, answer.text
    assert "amoCRM подключён" in answer.text and "amoCRM is connected" in answer.text
    import re

    found = re.search(r"job ([0-9a-f]{32})", answer.text)
    assert found, answer.text
    return found.group(1)


def status(server: Served, account_id: int) -> dict[str, Any]:
    with api(server, account_id) as client:
        answer = client.get("/v1/amocrm/status")
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def job_done(server: Served, account_id: int, job_id: str) -> dict[str, Any] | None:
    with api(server, account_id) as client:
        job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] != "failed", job
    return job if job["status"] == "done" else None
