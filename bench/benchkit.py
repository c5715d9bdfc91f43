"""What the benches share: a free port, a `__main__` that reports instead of failing, and the
problem+json check that `bench_fuzz.py` and `tests/api/test_fuzz.py` both give schemathesis.

Standard library only at import (the HTTP helpers import httpx when called), so a bench script (which has
`bench/` as its first path entry) and the tests (`bench.benchkit`) import it alike.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROBLEM = "application/problem+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[str], *, seconds: float = 300.0) -> None:
    """Until `crm-dedup serve` at `url` answers /healthz; RuntimeError if it exits or never answers."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def wait_checks_ready(url: str, process: subprocess.Popen[str], key: str, body: dict[str, Any], *,
                      workers: int = 1, fast_seconds: float = 0.5, in_a_row: int = 8) -> None:
    """Healthy, and every worker's check index loaded: each worker warms it in the background at start
    (seconds at 318k), so checks are sent until `in_a_row` x `workers` in a row answer within `fast_seconds`."""
    import httpx

    wait_healthy(url, process)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600) as http:
        quick = 0
        while quick < in_a_row * workers:
            t = time.perf_counter()
            http.post("/v1/contacts/check", json=body).raise_for_status()
            quick = quick + 1 if time.perf_counter() - t < fast_seconds else 0


def run_reporting(main: Callable[[], Any], script: str) -> None:
    """Run a bench's `main`; a failure is printed, never raised: a bench reports, it never fails `make bench`."""
    try:
        main()
    except Exception as exc:
        print(f"{Path(script).name} could not finish: {exc!r}")
    except SystemExit as exc:
        if not isinstance(exc.code, str):  # --help, or a bad argument: argparse's own exit
            raise
        print(f"{Path(script).name} could not finish: {exc.code}")


def problem_json(ctx: Any, response: Any, case: Any) -> None:
    """A schemathesis check: every 4xx/5xx answer is RFC 9457 problem+json carrying its own status."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type == PROBLEM, f"{response.status_code} answered as {content_type!r}, not {PROBLEM}"
    body = response.json()
    assert isinstance(body, dict), f"a problem must be a JSON object, got {body!r}"
    assert body.get("status") == response.status_code and body.get("title") and body.get("detail"), body
