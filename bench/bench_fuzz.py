"""`make bench`: schemathesis against a fresh real server for N minutes; counts of requests and failures.

A scanned demo store (contacts and companies) with an account key is served by `crm-dedup serve`
in a subprocess; the schemathesis CLI loads its `/openapi.json` and runs every phase (examples,
coverage, fuzzing, stateful) until the time is spent, authenticated with the key. A failure is a
5xx, a refusal that is not problem+json naming its own status, or a request that got no answer.
The server's own counters and log are read afterwards: 5xx by route, tracebacks. Prints; exit 0.

    python bench/bench_fuzz.py [--minutes 10] [--seed 1] [--contacts 2000] [--checks not_a_server_error,...]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchkit import free_port, problem_json, run_reporting  # bench/ is this script's first path entry

ROOT = Path(__file__).resolve().parent.parent

if os.environ.get("SCHEMATHESIS_HOOKS") == "bench_fuzz":  # imported by the schemathesis CLI as its hooks module
    import schemathesis

    schemathesis.check(problem_json)


def _env(**extra: str) -> dict[str, str]:
    """Without a developer's CRM_DEDUP_* settings; this checkout importable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CRM_DEDUP_")} | {"PYTHONPATH": str(ROOT)} | extra


def start_server(db: Path, cwd: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`crm-dedup serve` on a free port, once /healthz answers: (process, base URL)."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as stderr:
        # no failed-auth limit: the key sent to routes taking another credential (admin, metrics) would
        # otherwise turn every later request into a 429, fuzzing nothing
        process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--db", str(db), "--port", str(port)],
                                   cwd=cwd, env=_env(CRM_DEDUP_AUTH_FAIL_LIMIT="0"), stdout=subprocess.DEVNULL,
                                   stderr=stderr)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"no answer from {url}/healthz in 120 s")


def demo_store(tmp: Path, contacts: int) -> tuple[Path, str]:
    """A scanned demo store in `tmp` and its account key."""
    db = tmp / "demo.duckdb"
    made = subprocess.run([sys.executable, "-m", "api.cli", "demo", "--contacts", str(contacts), "--companies",
                           str(max(10, contacts // 4)), "--show", "0", "-q", "--db", str(db)],
                          cwd=tmp, env=_env(), capture_output=True, text=True, check=True)
    key = next(line.rsplit(": ", 1)[1] for line in made.stdout.splitlines() if line.startswith("API key of account"))
    return db, key


def _five_hundreds(metrics: str) -> dict[str, int]:
    """5xx answers the server counted, by `METHOD route status`."""
    found = {}
    for line in metrics.splitlines():
        m = re.match(r'crm_dedup_http_requests_total\{method="(\w+)",route="([^"]*)",status="(5\d\d)"\} (\d+)', line)
        if m:
            found[f"{m[1]} {m[2]} {m[3]}"] = int(m[4])
    return found


def _requests_total(metrics: str) -> int:
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in metrics.splitlines()
               if line.startswith("crm_dedup_http_requests_total{"))


def _failures(stdout: str) -> tuple[str, list[str]]:
    """(the CLI's "N generated, ..." line, one line per failure: operation, check, first line of why)."""
    totals = next((line.strip() for line in stdout.splitlines() if re.search(r"\d+ generated", line)), "")
    found: list[str] = []
    operation = check = ""
    for line in stdout.splitlines():
        if m := re.match(r"^_{3,} (.+?) _{3,}$", line):
            operation = m[1]
        elif m := re.match(r"^- (ST\d+ .+|.+ failed.*)$", line.strip()):
            check = m[1]
        elif check and line.strip() and not line.strip().startswith(("[", "Reproduce", "curl", "st replay")):
            found.append(f"{operation}: {check}: {line.strip()}"[:240])
            check = ""
    return totals, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--contacts", type=int, default=2_000)
    parser.add_argument("--checks", default="not_a_server_error,problem_json",
                        help="schemathesis checks, comma-separated (e.g. add response_schema_conformance)")
    args = parser.parse_args()
    import httpx

    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as d:
        tmp = Path(d)
        db, key = demo_store(tmp, args.contacts)
        log = tmp / "serve.log"
        server, url = start_server(db, tmp, log)
        seconds = max(1, int(args.minutes * 60))
        try:
            t0 = time.perf_counter()
            run = subprocess.run(
                [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
                 "-H", f"Authorization: Bearer {key}", "--max-time", str(seconds), "--seed", str(args.seed),
                 "--checks", args.checks, "--request-timeout", "30", "--workers", "1",
                 "--continue-on-failure",                 "--no-color"],
                cwd=tmp, env=_env(SCHEMATHESIS_HOOKS="bench_fuzz", PYTHONPATH=f"{ROOT / 'bench'}{os.pathsep}{ROOT}"),
                capture_output=True, text=True, check=False, timeout=seconds + 600)
            wall = time.perf_counter() - t0
            try:
                health = httpx.get(f"{url}/healthz", timeout=10).status_code
                metrics = httpx.get(f"{url}/metrics", timeout=10).text
            except httpx.HTTPError as exc:
                health, metrics = 0, ""
                print(f"the server stopped answering: {exc!r}")
        finally:
            server.kill()
            server.wait()
        totals, failures = _failures(run.stdout)
        server_log = log.read_text(encoding="utf-8", errors="replace")
        five_hundreds = _five_hundreds(metrics)
        print(f"schemathesis for {seconds} s (ran {wall:.0f} s, seed {args.seed}) against a real server on "
              f"{args.contacts:,} demo contacts: exit {run.returncode} ({totals or 'no totals printed'})")
        print(f"  requests the server counted: {_requests_total(metrics):,}; /healthz after: {health}")
        print(f"  5xx the server counted: {sum(five_hundreds.values())}")
        for route, n in sorted(five_hundreds.items()):
            print(f"    {route}: {n}")
        print(f"  failures ({args.checks}; or no answer): {len(failures)}")
        for line in failures[:40]:
            print(f"    {line}")
        print(f"  tracebacks in the server log: {server_log.count('Traceback')}")
        if run.returncode not in (0, 1) or os.environ.get("BENCH_FUZZ_VERBOSE"):  # 1 = failures found
            print(run.stdout[-5000:] + run.stderr[-3000:])


if __name__ == "__main__":
    run_reporting(main, __file__)
