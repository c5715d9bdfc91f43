"""`make bench` for the API: check latency and throughput against a real uvicorn server.

318,000 generated contacts are imported into a DuckDB file; `crm-dedup serve` runs as its own
process; a separate client process sends 2,000 `POST /v1/contacts/check` requests (half are
stored contacts with another phone spelling and no id, half unseen people) from 4 threads.

    python bench/bench_api.py [--n 318000] [--requests 2000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchkit import free_port  # noqa: E402  (bench/ is this script's first path entry)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True)


def _probes(entities: list[dict], n: int, seed: int) -> list[dict]:
    from training.synthetic import generate_contacts

    rng = random.Random(seed)
    known = []
    for e in rng.sample(entities, n // 2):
        body = {k: v for k, v in e.items() if k not in ("id", "_links")}
        for f in body.get("custom_fields_values") or []:  # another spelling of the same phone
            if f.get("field_code") == "PHONE":
                for v in f["values"]:
                    digits = "".join(c for c in v["value"] if c.isdigit())
                    if len(digits) == 11 and digits[0] in "78":
                        v["value"] = f"8 ({digits[1:4]}) {digits[4:7]}-{digits[7:9]}-{digits[9:]}"
        known.append(body)
    unseen = [{k: v for k, v in e.items() if k not in ("id", "_links")}
              for e in generate_contacts(n - len(known), seed=seed + 7).entities]
    probes = known + unseen
    rng.shuffle(probes)
    return probes


def client(url: str, key: str, probes_path: str, concurrency: int) -> None:
    """The client process: sends every probe, prints one JSON line of latencies."""
    import httpx

    probes = json.loads(Path(probes_path).read_text(encoding="utf-8"))
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        http.post("/v1/contacts/check", json=probes[0]).raise_for_status()  # warm: loads the account

        def one(body: dict) -> tuple[float, int, int]:
            t = time.perf_counter()
            r = http.post("/v1/contacts/check", json=body)
            return (time.perf_counter() - t) * 1000, r.status_code, len(r.json().get("matches", []))

        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(one, probes))
        wall = time.perf_counter() - t0
    sys.stdout.write(json.dumps({"latencies": [r[0] for r in results], "statuses": [r[1] for r in results],
                                 "found": sum(1 for r in results if r[2]), "wall": wall}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=318_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--client", nargs=4, metavar=("URL", "KEY", "PROBES", "CONCURRENCY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(args.client[0], args.client[1], args.client[2], int(args.client[3]))
        return

    from training.synthetic import generate_contacts, write_set

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        synthetic = generate_contacts(args.n, seed=2024)
        page, _ = write_set(synthetic, tmp)
        db = str(tmp / "store.duckdb")
        t0 = time.perf_counter()
        _cli("import", str(page), "--entity", "contact", "--account", "bench", "--db", db, "-q")
        import_s = time.perf_counter() - t0
        key = _cli("accounts", "create", "bench", "--db", db).stdout.strip().splitlines()[-1]
        probes = tmp / "probes.json"
        probes.write_text(json.dumps(_probes(synthetic.entities, args.requests, seed=5), ensure_ascii=False),
                          encoding="utf-8")
        del synthetic
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--db", db, "--port", str(port)],
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            import httpx

            for _ in range(300):
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, __file__, "--client", url, key, str(probes),
                                  str(args.concurrency)], capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            server.terminate()
            server.wait(timeout=30)
        lat = sorted(result["latencies"])

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))]

        ok = sum(1 for s in result["statuses"] if s == 200)
        print(f"check against {args.n:,} stored contacts (import {import_s:.0f} s), real uvicorn, separate client, "
              f"{args.concurrency} threads: {len(lat)} requests, {ok} ok, {result['found']} with matches")
        print(f"  latency p50 {pct(0.5):.1f} ms  p95 {pct(0.95):.1f} ms  p99 {pct(0.99):.1f} ms  "
              f"mean {statistics.mean(lat):.1f} ms; throughput {len(lat) / result['wall']:.0f} checks/s")


if __name__ == "__main__":
    main()
