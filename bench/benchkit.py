"""What the benches share: a free port, a `__main__` that reports instead of failing, and the
problem+json check that `bench_fuzz.py` and `tests/api/test_fuzz.py` both give schemathesis.

Standard library only, so a bench script (which has `bench/` as its first path entry) and the tests
(`bench.benchkit`) import it alike.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROBLEM = "application/problem+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
