"""`make bench` for the PostgreSQL store: API workers, job workers and scan time against DuckDB.

A throwaway PostgreSQL server (tests/postgres.py: initdb in a temp dir, a free port) holds the
generated contacts; the same contacts go into a DuckDB file for comparison. Printed:

- import and whole-base scan time per record, PostgreSQL vs DuckDB (`crm-dedup import` / `scan`);
- checks per second and p95 of `POST /v1/contacts/check` with 1 and 2 API workers (`serve --workers N`),
  a separate client process with 4 threads (bench_api.py's client and probes);
- the wall time of 8 accounts' scan jobs with 1 and 2 job workers (`crm-dedup worker`).

Prints numbers, never fails. The default size runs in a few minutes on a laptop; the issue's case:

    python bench/bench_postgres.py --contacts 318000 [--requests 2000] [--api-workers 1 2 4]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_api import _probes  # noqa: E402  (bench/ is this script's first path entry)
from benchkit import free_port, run_reporting, wait_checks_ready  # noqa: E402


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True, env=env)


def _env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CRM_DEDUP_")} | {"PYTHONPATH": str(ROOT)} | extra


def _timed(*args: str, env: dict[str, str] | None = None) -> float:
    """Seconds the command reports for its work (`… in 1.4 s`), else its whole run."""
    t0 = time.perf_counter()
    done = _cli(*args, env=env)
    wall = time.perf_counter() - t0
    said = re.findall(r" in (\d+(?:\.\d+)?) s", done.stderr)
    return float(said[-1]) if said else wall


def _checks(db_url: str, key: str, probes: Path, workers: int, concurrency: int) -> dict[str, float]:
    """checks/s and latency percentiles of one `serve --workers N` on the database."""

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--db", db_url, "--port", str(port),
                               "--workers", str(workers)], cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        wait_checks_ready(url, server, key, json.loads(probes.read_text(encoding="utf-8"))[0], workers=workers)
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_api.py"), "--client", url, key,
                              str(probes), str(concurrency)], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(timeout=60)
    lat = sorted(result["latencies"])
    return {"per_s": len(lat) / result["wall"], "p50": lat[len(lat) // 2],
            "p95": lat[min(len(lat) - 1, int(0.95 * len(lat)))], "mean": statistics.mean(lat),
            "ok": sum(1 for s in result["statuses"] if s == 200), "n": len(lat)}


def _jobs(server: object, page: Path, accounts: int, workers: int) -> float:
    """Wall seconds from queueing `accounts` scans (a fresh database) until `workers` job workers finished them."""
    from resolver.store import open_store

    url = server.new_database()  # type: ignore[attr-defined]
    env = _env(CRM_DEDUP_DATABASE_URL=url)
    names = [f"acct{i}" for i in range(accounts)]
    for name in names:
        _cli("import", str(page), "--entity", "contact", "--account", name, "-q", env=env)
    with open_store(url) as store:
        for name in names:
            store.queue_job(name, kind="scan", entity="contact")
        procs = [subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--poll-seconds", "1"], cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
                 for _ in range(workers)]
        t0 = time.perf_counter()
        try:
            while True:
                counts = store.queue_counts()
                if counts.get("done", 0) + counts.get("failed", 0) >= accounts:
                    break
                time.sleep(0.2)
            return time.perf_counter() - t0
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=20_000, help="contacts of the check and scan bench")
    parser.add_argument("--requests", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--api-workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--job-accounts", type=int, default=8)
    parser.add_argument("--job-contacts", type=int, default=3_000, help="contacts of each account's scan job")
    args = parser.parse_args()

    from tests.postgres import PostgresServer
    from training.synthetic import generate_contacts, write_set

    server = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            synthetic = generate_contacts(args.contacts, seed=2024)
            page, _ = write_set(synthetic, tmp / "set")
            probes = tmp / "probes.json"
            probes.write_text(json.dumps(_probes(synthetic.entities, args.requests, seed=5), ensure_ascii=False),
                              encoding="utf-8")
            del synthetic
            url, duck = server.new_database(), str(tmp / "store.duckdb")
            times: dict[str, dict[str, float]] = {}
            for name, db in (("duckdb", duck), ("postgres", url)):
                times[name] = {
                    "import": _timed("import", str(page), "--entity", "contact", "--account", "bench", "--db", db,
                                     "-q", env=_env()),
                    "scan": _timed("scan", "--entity", "contact", "--account", "bench", "--db", db, "-q",
                                   env=_env())}
            n = args.contacts
            print(f"{n:,} contacts, one account (CLI; import: the whole process, scan: as `scan` reports it):")
            for name, t in times.items():
                print(f"  {name:8}  import {t['import']:.1f} s ({1e6 * t['import'] / n:.0f} µs/record)   "
                      f"scan {t['scan']:.1f} s ({1e6 * t['scan'] / n:.0f} µs/record)")
            ratio = times["postgres"]["scan"] / times["duckdb"]["scan"]
            print(f"  scan time per record, PostgreSQL / DuckDB: {ratio:.2f}x")

            key = _cli("accounts", "create", "bench", "--db", url, env=_env()).stdout.strip().splitlines()[-1]
            base = None
            print(f"check on PostgreSQL, {args.requests} requests from {args.concurrency} client threads:")
            for workers in args.api_workers:
                r = _checks(url, key, probes, workers, args.concurrency)
                base = base or r["per_s"]
                print(f"  {workers} API worker(s): {r['per_s']:.0f} checks/s ({r['per_s'] / base:.2f}x)  "
                      f"p50 {r['p50']:.1f} ms  p95 {r['p95']:.1f} ms  mean {r['mean']:.1f} ms  ({r['ok']}/{r['n']} ok)")

            jobs_page, _ = write_set(generate_contacts(args.job_contacts, seed=77), tmp / "jobs")
            print(f"{args.job_accounts} accounts' scan jobs of {args.job_contacts:,} contacts each:")
            first = None
            for workers in (1, 2):
                wall = _jobs(server, jobs_page, args.job_accounts, workers)
                first = first or wall
                print(f"  {workers} job worker(s): {wall:.1f} s ({first / wall:.2f}x)")
    finally:
        server.stop()


if __name__ == "__main__":
    run_reporting(main, __file__)
