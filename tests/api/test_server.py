"""The real thing: `crm-dedup serve` as a subprocess on a free loopback port, stopped with SIGTERM."""

import httpx
import pytest

from tests.servers import clean_env, crm_dedup, free_port, served


@pytest.fixture
def env() -> dict[str, str]:
    """The environment without a developer's CRM_DEDUP_* settings."""
    return clean_env()


def test_served_api_authenticates_counts_and_stops_cleanly_on_sigterm(tmp_path, env):
    db = tmp_path / "store.duckdb"
    # DuckDB lets one process write a file: the account is made before the server opens it
    created = crm_dedup("accounts", "create", "acme", "--db", str(db), env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("cdk_")

    with served(db, env=env, cwd=tmp_path) as server:
        url = server.url
        me = httpx.get(f"{url}/v1/whoami", headers={"Authorization": f"Bearer {key}"})
        stranger = httpx.get(f"{url}/v1/whoami", headers={"Authorization": "Bearer cdk_stolen"})
        metrics = httpx.get(f"{url}/metrics").text
        # a second server on the same store: DuckDB's lock stops it at once, in one line
        second = crm_dedup("serve", "--port", str(free_port()), "--db", str(db), env=env, cwd=tmp_path)
        code, stderr = server.stop()

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

    scraper = "scraper-token-0123456789"  # the store's totals are for the operator's scraper only
    with served(db, env={**env, "CRM_DEDUP_METRICS_TOKEN": scraper}, cwd=tmp_path) as server:
        url = server.url
        answers = [httpx.get(f"{url}/v1/whoami", headers={"Authorization": f"Bearer {k}"}) for k in (old_key, new_key)]
        records = [line for line in httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {scraper}"})
                   .text.splitlines() if line.startswith("crm_dedup_records{")]
        code, stderr = server.stop()

    assert [a.status_code for a in answers] == [401, 200]
    assert answers[1].json() == {"account_id": "demo"}
    assert records == ['crm_dedup_records{entity="contact"} 200', 'crm_dedup_records{entity="company"} 50']
    assert (code, "Traceback" in stderr) == (0, False), stderr
