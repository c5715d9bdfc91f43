"""`make bench` for the real-time check under concurrency (issue 15, item 4).

318,000 generated contacts (bench_api.py's generator and probes) are imported once into a DuckDB
file cached under var/bench/check-<n>/ (with the account's key and the probes), so a rerun starts
in seconds. `crm-dedup serve` runs as its own process; `--clients` separate client PROCESSES (not
threads: one client process would itself be bound by its interpreter lock) each send their share of
`POST /v1/contacts/check` one after another, all starting together. Printed: p50 / p95 / p99 over
every request, checks per second over the common window, and the server's CPU time per check (user
+ system of the server process and its children over the window, from /proc).

    python bench/bench_check.py [--n 318000] [--requests 4000] [--clients 4] [--fresh]
    python bench/bench_check.py --postgres --workers 1 2   # the same on a throwaway PostgreSQL

Prints numbers, never fails on them. Wall times depend on what else the machine runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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

CACHE = ROOT / "var" / "bench"
_TICK = os.sysconf("SC_CLK_TCK")


def _env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CRM_DEDUP_")} | {"PYTHONPATH": str(ROOT)} | extra


def _cli(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env or _env())
    if done.returncode:
        raise RuntimeError(f"crm-dedup {args[0]} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def _dataset(n: int, requests: int, fresh: bool) -> Path:
    """var/bench/check-<n>/: the amoCRM JSON page, store.duckdb with account `bench`, key.txt, the probes."""
    from training.synthetic import generate_contacts, write_set

    where = CACHE / f"check-{n}"
    if fresh and where.exists():
        shutil.rmtree(where)
    probes = f"probes-{requests}.json"
    if (where / "key.txt").exists():
        if not (where / probes).exists():  # the same contacts (seeded), other probes
            entities = generate_contacts(n, seed=2024).entities
            (where / probes).write_text(json.dumps(_probes(entities, requests, seed=5), ensure_ascii=False),
                                        encoding="utf-8")
        return where
    part = where.with_suffix(".part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    synthetic = generate_contacts(n, seed=2024)
    page, _ = write_set(synthetic, part / "set")
    (part / probes).write_text(json.dumps(_probes(synthetic.entities, requests, seed=5), ensure_ascii=False),
                               encoding="utf-8")
    del synthetic
    db = str(part / "store.duckdb")
    t0 = time.perf_counter()
    _cli("import", str(page), "--entity", "contact", "--account", "bench", "--db", db, "-q")
    print(f"  (imported {n:,} contacts into {where / 'store.duckdb'} in {time.perf_counter() - t0:.0f} s, cached)")
    key = _cli("accounts", "create", "bench", "--db", db).strip().splitlines()[-1]
    (part / "key.txt").write_text(key, encoding="utf-8")
    shutil.rmtree(where, ignore_errors=True)
    part.rename(where)
    return where


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of `pid` and its living children (uvicorn's workers)."""
    user = system = 0.0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            user += int(fields[11]) / _TICK
            system += int(fields[12]) / _TICK
            for task in Path(f"/proc/{p}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return user, system


def client(url: str, key: str, probes_path: str, start_at: float) -> None:
    """One client process: waits for `start_at`, sends its probes one after another, prints one JSON line."""
    import httpx

    # the clients stand in for other machines: on a busy shared machine they yield the CPU to the server first
    os.nice(5)
    probes = json.loads(Path(probes_path).read_text(encoding="utf-8"))
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        http.post("/v1/contacts/check", json=probes[0]).raise_for_status()  # its connection is open
        time.sleep(max(0.0, start_at - time.time()))
        latencies, statuses, found = [], [], 0
        t0 = time.time()
        for body in probes:
            t = time.perf_counter()
            r = http.post("/v1/contacts/check", json=body)
            latencies.append((time.perf_counter() - t) * 1000)
            statuses.append(r.status_code)
            found += bool(r.status_code == 200 and r.json()["matches"])
        t1 = time.time()
    sys.stdout.write(json.dumps({"latencies": latencies, "statuses": statuses, "found": found,
                                 "start": t0, "end": t1}) + "\n")


def run(db: str, key: str, probes: list[dict], clients: int, workers: int, env: dict[str, str],
        profile: str | None = None, database_pid: int | None = None) -> dict[str, float]:
    """Serve `db`, let `clients` processes share `probes`; latency percentiles, checks/s, server CPU per check.

    `profile`: write py-spy's flat profile of the server over the window there (py-spy must be on PATH).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "api.cli", "serve", "--db", db, "--port", str(port)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    results = []
    with tempfile.TemporaryDirectory() as d:
        try:
            wait_checks_ready(url, server, key, probes[0], workers=workers)
            start_at = time.time() + 3.0  # every client connected and loaded by then
            procs = []
            for i in range(clients):
                share = Path(d) / f"probes-{i}.json"
                share.write_text(json.dumps(probes[i::clients], ensure_ascii=False), encoding="utf-8")
                procs.append(subprocess.Popen([sys.executable, __file__, "--client", url, key, str(share),
                                               str(start_at)], stdout=subprocess.PIPE, text=True))
            time.sleep(max(0.0, start_at - time.time()))
            spy = None
            if profile:  # sampling from outside the process: what the server does, not what we think it does
                spy = subprocess.Popen([shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
                                        "record", "--pid", str(server.pid), "--subprocesses", "--format", "raw",
                                        "--rate", "200", "--output", profile, "--nonblocking"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            db0 = _cpu_seconds(database_pid) if database_pid else (0.0, 0.0)
            cpu0, t0 = _cpu_seconds(server.pid), time.time()
            for p in procs:
                out, _ = p.communicate(timeout=1800)
                results.append(json.loads(out.strip().splitlines()[-1]))
            cpu1, t1 = _cpu_seconds(server.pid), time.time()
            db1 = _cpu_seconds(database_pid) if database_pid else (0.0, 0.0)
            if spy is not None:
                spy.send_signal(2)
                spy.wait(timeout=60)
        finally:
            server.terminate()
            try:
                server.wait(timeout=180)  # workers still loading their index finish that first
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    lat = sorted(x for r in results for x in r["latencies"])
    start, end = min(r["start"] for r in results), max(r["end"] for r in results)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))]

    return {"n": len(lat), "ok": sum(s == 200 for r in results for s in r["statuses"]),
            "found": sum(r["found"] for r in results), "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99),
            "mean": statistics.mean(lat), "per_s": len(lat) / (end - start),
            "cpu_ms": 1000 * (sum(cpu1) - sum(cpu0)) / len(lat), "sys_ms": 1000 * (cpu1[1] - cpu0[1]) / len(lat),
            "db_ms": 1000 * (sum(db1) - sum(db0)) / len(lat), "window": t1 - t0}


def _print(label: str, r: dict[str, float]) -> None:
    print(f"  {label}: {r['n']:.0f} checks ({r['ok']:.0f} ok, {r['found']:.0f} with matches)  "
          f"p50 {r['p50']:.1f} ms  p95 {r['p95']:.1f} ms  p99 {r['p99']:.1f} ms  mean {r['mean']:.1f} ms  "
          f"{r['per_s']:.0f} checks/s  server CPU {r['cpu_ms']:.2f} ms/check ({r['sys_ms']:.2f} in the kernel)"
          + (f" + PostgreSQL {r['db_ms']:.2f} ms" if r.get("db_ms") else ""))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=318_000, help="stored contacts")
    parser.add_argument("--requests", type=int, default=4_000, help="checks in all, shared by the clients")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the DuckDB case (each printed)")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached store under var/bench/")
    parser.add_argument("--postgres", action="store_true", help="also a throwaway PostgreSQL with --workers")
    parser.add_argument("--only-postgres", action="store_true", help="skip the DuckDB case")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="API workers on PostgreSQL")
    parser.add_argument("--profile", help="py-spy raw profile of the (first) DuckDB run's server to this file")
    parser.add_argument("--client", nargs=4, metavar=("URL", "KEY", "PROBES", "START"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(args.client[0], args.client[1], args.client[2], float(args.client[3]))
        return

    where = _dataset(args.n, args.requests, args.fresh)
    key = (where / "key.txt").read_text(encoding="utf-8").strip()
    probes = json.loads((where / f"probes-{args.requests}.json").read_text(encoding="utf-8"))
    print(f"check with {args.n:,} contacts stored, real uvicorn, {args.clients} client processes sending "
          f"{len(probes)} checks in all, one after another each (cores: {os.cpu_count()}):")
    with tempfile.TemporaryDirectory() as d:  # a copy: serving writes key use times, the cache stays as built
        if args.only_postgres:
            args.repeat = 0
        db = Path(d) / "store.duckdb"
        shutil.copyfile(where / "store.duckdb", db)
        for i in range(args.repeat):
            _print(f"DuckDB, 1 process{f' (run {i + 1})' if args.repeat > 1 else ''}",
                   run(str(db), key, probes, args.clients, 1, _env(), args.profile if i == 0 else None))
    if args.postgres:
        from tests.postgres import PostgresServer

        pg = PostgresServer().start()
        try:
            url = pg.new_database()
            t0 = time.perf_counter()
            page = next((where / "set").glob("*.json"))
            _cli("import", str(page), "--entity", "contact", "--account", "bench", "--db", url, "-q")
            pg_key = _cli("accounts", "create", "bench", "--db", url).strip().splitlines()[-1]
            print(f"  (PostgreSQL: imported in {time.perf_counter() - t0:.0f} s)")
            postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
            for workers in args.workers:
                _print(f"PostgreSQL, {workers} API worker(s)",
                       run(url, pg_key, probes, args.clients, workers, _env(), database_pid=postmaster))
        finally:
            pg.stop()


if __name__ == "__main__":
    run_reporting(main, __file__)
