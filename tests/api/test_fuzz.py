"""Fuzzing the real running API from its own OpenAPI document: no request makes it fail.

`crm-dedup serve` runs as a subprocess on a demo store (contacts and companies imported and
scanned, an account key) and serves `/openapi.json`; schemathesis takes that document (built from
the app at collection, so pytest lists one test per operation; the fixture checks the server
serves the same) and, for every operation, sends the schema's examples, its coverage cases (edge
values, missing and wrong-typed parameters, other methods) and generated requests, valid and
invalid, authenticated with the account's key. Every answer must be below 500, and every refusal
problem+json naming its own status.
The seed is fixed, so a failure found in CI is found again on a laptop; `bench/bench_fuzz.py`
runs the same for minutes rather than a handful of examples.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from api.settings import Settings
from bench.benchkit import problem_json
from tests.servers import Served, clean_env, crm_dedup, served

SEED = 20261105
EXAMPLES = 40  # generated requests per operation, on top of the schema's examples and coverage cases
REQUEST_TIMEOUT_S = 30.0  # a hung server fails the case instead of hanging the suite


def _document() -> dict[str, Any]:
    """The OpenAPI document the server builds (create_app opens no store until it starts)."""
    return create_app(Settings(db=Path(":memory:"))).openapi()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    """(`crm-dedup serve` on a scanned demo store, the account key), serving the document fuzzed below."""
    tmp = tmp_path_factory.mktemp("fuzz")
    # the fuzzer's own key on routes that take another credential (admin, metrics) counts as failed
    # authentication; with the per-address limit on, every later request would be a 429 and fuzz nothing
    env = clean_env(CRM_DEDUP_AUTH_FAIL_LIMIT="0")
    db = tmp / "demo.duckdb"
    made = crm_dedup("demo", "--contacts", "300", "--companies", "80", "--show", "0", "-q", "--db", str(db),
                     env=env, cwd=tmp)
    assert made.returncode == 0, made.stderr
    key = next(line.rsplit(": ", 1)[1] for line in made.stdout.splitlines() if line.startswith("API key of account"))
    with served(db, env=env, cwd=tmp) as server:
        served_document = httpx.get(f"{server.url}/openapi.json", timeout=REQUEST_TIMEOUT_S)
        assert served_document.status_code == 200 and served_document.json() == _document()
        yield server, key


# Loaded at collection, so that pytest lists one test per operation; the fixture below checks that the
# running server serves this very document at /openapi.json.
schema = schemathesis.openapi.from_dict(_document(), config=schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {"deterministic": True, "max-examples": EXAMPLES},
    "phases": {"stateful": {"enabled": False}},
}))


@pytest.mark.timeout(300)  # per operation; a guard against a frozen server, not a speed target
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_api_fail(case: schemathesis.Case, demo_server: tuple[Served, str]) -> None:
    server, key = demo_server
    case.call_and_validate(base_url=server.url, headers={"Authorization": f"Bearer {key}"},
                           checks=[not_a_server_error, problem_json], timeout=REQUEST_TIMEOUT_S)


def test_the_fuzzed_server_is_up_counted_no_5xx_and_logged_no_traceback(demo_server: tuple[Served, str]) -> None:
    """After the fuzzing above (same module-scoped server): still answering, no 5xx in its own request
    counters (they also count what a check above may have missed), and nothing crashed inside."""
    server, _ = demo_server
    assert httpx.get(f"{server.url}/healthz", timeout=REQUEST_TIMEOUT_S).status_code == 200
    # without credentials: the request counters are process metrics, open to the scraper (an account key is not)
    metrics = httpx.get(f"{server.url}/metrics", timeout=REQUEST_TIMEOUT_S).text
    assert "crm_dedup_http_requests_total{" in metrics
    assert [line for line in metrics.splitlines()
            if line.startswith("crm_dedup_http_requests_total{") and 'status="5' in line] == []
    log = Path(server.log).read_text(encoding="utf-8")
    assert "Traceback" not in log, log[max(0, log.index("Traceback") - 2000):][:8000]
