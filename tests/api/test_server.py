"""The real thing: `crm-dedup serve` as a subprocess on a free loopback port, stopped with SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

STARTUP_SECONDS = 60  # loading Splink and the models on a busy 2-core machine
STOP_SECONDS = 15
CLI = Path(sys.executable).with_name("crm-dedup")  # the console script of this virtualenv


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """The environment without a developer's CRM_DEDUP_* settings; runs from tmp_path."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRM_DEDUP_")}
    return clean | {"PYTHONPATH": str(Path(__file__).parents[2])}


def crm_dedup(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "api.cli"]
    return subprocess.run([*command, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(db: Path, *, env: dict[str, str], cwd: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`python -m api.cli serve` on a free port, up once /healthz answers; SIGTERM on the way out."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--db", str(db)],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if server.poll() is not None:
                pytest.fail(f"the server exited with {server.returncode} before answering:\n{server.stderr.read()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no answer from {url}/healthz in {STARTUP_SECONDS} s")
            time.sleep(0.1)
        yield url, server
    finally:
        if server.poll() is None:
            server.kill()  # only reached when a test failed before its own SIGTERM
            server.communicate()


def stop(server: subprocess.Popen[str]) -> tuple[int, str]:
    server.send_signal(signal.SIGTERM)
    _, stderr = server.communicate(timeout=STOP_SECONDS)
    return server.returncode, stderr


def test_served_api_authenticates_counts_and_stops_cleanly_on_sigterm(tmp_path, env):
    db = tmp_path / "store.duckdb"
    # DuckDB lets one process write a file: the account is made before the server opens it
    created = crm_dedup("accounts", "create", "acme", "--db", str(db), env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("cdk_")

    with served(db, env=env, cwd=tmp_path) as (url, server):
        me = httpx.get(f"{url}/v1/whoami", headers={"Authorization": f"Bearer {key}"})
        stranger = httpx.get(f"{url}/v1/whoami", headers={"Authorization": "Bearer cdk_stolen"})
        metrics = httpx.get(f"{url}/metrics").text
        # a second server on the same store: DuckDB's lock stops it at once, in one line
        second = crm_dedup("serve", "--port", str(free_port()), "--db", str(db), env=env, cwd=tmp_path)
        code, stderr = stop(server)

    assert (me.status_code, me.json()) == (200, {"account_id": "acme"})
    assert (stranger.status_code, stranger.headers["content-type"], stranger.json()["detail"]) == (
        401, "application/problem+json", "unknown API key")
    assert 'crm_dedup_http_requests_total{method="GET",route="/v1/whoami",status="200"} 1' in metrics.splitlines()
    assert (second.returncode, second.stderr.count("\n")) == (1, 1), second.stderr
    assert second.stderr.startswith(f"crm-dedup: error: cannot open store {db}: IO Error: Could not set lock")
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == "crm-dedup API stopped (SIGTERM)"
    assert stderr.splitlines()[0] == (
        f"crm-dedup API on {url} (docs at {url}/docs), store {db}")


def test_demo_gives_a_working_key_and_a_rerun_replaces_it(tmp_path, env):
    db = tmp_path / "demo.duckdb"
    small = ("--contacts", "200", "--companies", "50", "--show", "1", "-q", "--db", str(db))
    first = crm_dedup("demo", *small, env=env, cwd=tmp_path)
    second = crm_dedup("demo", *small, env=env, cwd=tmp_path)  # same data again: idempotent, new key
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    old_key, new_key = (run.stdout.splitlines()[-4].rsplit(": ", 1)[1] for run in (first, second))
    assert second.stdout.splitlines()[-2:] == [
        f'then: curl -H "Authorization: Bearer {new_key}" "http://127.0.0.1:8000/v1/groups?entity=contacts"',
        f"or review the groups in a browser: http://127.0.0.1:8000/ui/#key={new_key}"]

    with served(db, env=env, cwd=tmp_path) as (url, server):
        answers = [httpx.get(f"{url}/v1/whoami", headers={"Authorization": f"Bearer {k}"}) for k in (old_key, new_key)]
        records = [line for line in httpx.get(f"{url}/metrics").text.splitlines()
                   if line.startswith("crm_dedup_records{")]
        code, stderr = stop(server)

    assert [a.status_code for a in answers] == [401, 200]
    assert answers[1].json() == {"account_id": "demo"}
    assert records == ['crm_dedup_records{entity="contact"} 200', 'crm_dedup_records{entity="company"} 50']
    assert (code, "Traceback" in stderr) == (0, False), stderr
