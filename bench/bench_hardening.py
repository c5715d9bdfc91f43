"""`make bench`: the held-out hardening probe against a real uvicorn server; prints a table, never fails.

Generated contacts are imported into a DuckDB file and `crm-dedup serve` runs on it as a
subprocess; the probe is a client in this process:

  a. kill -9: 4 threads post reviewers' decisions (one distinct pair per POST /v1/feedback) and
     note every 201; the server is killed with SIGKILL mid-stream and restarted on the same file;
     every acknowledged decision must be in GET /v1/feedback (missing: must be 0).
  b. checks during a scan: 4 threads call POST /v1/contacts/check while POST /v1/jobs/scan runs
     on the whole base; errors (must be 0) and latency p50/p95, next to the same without a scan.
  c. hostile inputs: each must be answered 4xx problem+json within a second while a thread polls
     /healthz, whose slowest answer in that window must be under a second too. A server that stops
     answering is killed and restarted, so one freeze does not hide the next row's result.

    python bench/bench_hardening.py [--n 50000] [--kill-after 300] [--only kill|scan|hostile ...]

Exit status 0 always: the numbers are for reading, not a gate (tests/api/test_fuzz.py is the gate).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchkit import PROBLEM, free_port, run_reporting  # noqa: E402  (bench/ is this script's first path entry)

CLIENTS = 4
HOSTILE_TIMEOUT_S = 20.0  # a request still unanswered then counts as a freeze; the server is restarted
HEALTH_TIMEOUT_S = 20.0
STARTUP_S = 180.0


def _env() -> dict[str, str]:
    """Without a developer's CRM_DEDUP_* settings; this checkout importable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CRM_DEDUP_")} | {"PYTHONPATH": str(ROOT)}


def _cli(*args: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"crm-dedup {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


@dataclass
class Server:
    """`crm-dedup serve` on one store file; `start` again after `kill` reopens the same file."""

    db: Path
    cwd: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.cwd / "serve.log"

    def start(self) -> float:
        """Start and wait for /healthz; the seconds it took."""
        import httpx

        t0 = time.perf_counter()
        with self.log.open("ab") as stderr:
            stderr.write(f"\n--- start {self.starts + 1} ---\n".encode())
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--db", str(self.db), "--port", str(self.port)],
                cwd=self.cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=stderr)
        self.starts += 1
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"no answer from {self.url}/healthz in {STARTUP_S:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def healthy(self, timeout: float = 2.0) -> bool:
        import httpx

        try:
            return httpx.get(f"{self.url}/healthz", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  " + "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip())


# -- a. kill -9 while decisions are posted ---------------------------------------------------------

def probe_kill(server: Server, key: str, ids: list[str], kill_after: int) -> list[list[str]]:
    """Post distinct pair decisions from CLIENTS threads, SIGKILL the server after `kill_after` acks."""
    import httpx

    acked: set[tuple[str, str]] = set()
    lock = threading.Lock()
    errors: list[str] = []
    stop = threading.Event()
    pairs = [(ids[2 * i], ids[2 * i + 1]) for i in range(len(ids) // 2)]

    def post(worker: int) -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
            for left, right in pairs[worker::CLIENTS]:
                if stop.is_set():
                    return
                try:
                    r = http.post("/v1/feedback", json={"entity": "contact", "left_id": left, "right_id": right,
                                                        "decision": "not_duplicate", "reviewer": f"bench{worker}"})
                except httpx.HTTPError as exc:  # the kill: the connection drops
                    errors.append(type(exc).__name__)
                    return
                if r.status_code == 201:
                    with lock:
                        acked.update((d["left_id"], d["right_id"]) for d in r.json()["decisions"])
                else:
                    errors.append(f"{r.status_code}")

    threads = [threading.Thread(target=post, args=(w,), daemon=True) for w in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    while len(acked) < kill_after and time.perf_counter() - t0 < 60 and any(t.is_alive() for t in threads):
        time.sleep(0.005)
    server.kill()
    killed_at = len(acked)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    restart_s = server.start()
    stored: set[tuple[str, str]] = set()
    cursor: str | None = None
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        while True:
            params: dict[str, Any] = {"entity": "contacts", "limit": 1000} | ({"cursor": cursor} if cursor else {})
            page = http.get("/v1/feedback", params=params)
            if page.status_code != 200:
                errors.append(f"GET /v1/feedback {page.status_code}")
                break
            body = page.json()
            stored.update((d["left_id"], d["right_id"]) for d in body["items"])
            cursor = body["next_cursor"]
            if not cursor:
                break
    missing = acked - stored
    return [["acknowledged (201) before and during the kill", f"{len(acked)} ({killed_at} when killed)"],
            ["stored after restart (GET /v1/feedback)", f"{len(stored)}"],
            ["acknowledged but MISSING (must be 0)", f"{len(missing)}" + (f" e.g. {sorted(missing)[:3]}" if missing
                                                                          else "")],
            ["client errors at the kill", f"{len(errors)} ({', '.join(sorted(set(errors)))})"],
            ["restart after SIGKILL, until /healthz", f"{restart_s:.1f} s"]]


# -- b. checks during a scan ------------------------------------------------------------------------

def _check_bodies(entities: list[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """Stored contacts without their id (the check must find them) and a few strangers."""
    rng = random.Random(seed)
    bodies = [{k: v for k, v in e.items() if k not in ("id", "_links")} for e in rng.sample(entities, n)]
    for body in bodies[::3]:
        body["name"] = f"{body.get('name') or ''} {rng.randint(1, 999)}"
    return bodies


def _check_round(server: Server, key: str, bodies: list[dict[str, Any]], until: Callable[[], bool]
                 ) -> tuple[list[float], list[str]]:
    """CLIENTS threads check `bodies` round and round until `until()`; (latencies in s, errors)."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []

    def client(worker: int) -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            i = worker
            while not until():
                t = time.perf_counter()
                try:
                    r = http.post("/v1/contacts/check", json=bodies[i % len(bodies)])
                    if r.status_code != 200:
                        errors.append(f"{r.status_code}: {r.text[:120]}")
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)
                latencies.append(time.perf_counter() - t)
                i += CLIENTS

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    return latencies, errors


def probe_scan(server: Server, key: str, entities: list[dict[str, Any]]) -> list[list[str]]:
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    bodies = _check_bodies(entities, 500, seed=3)
    httpx.post(f"{server.url}/v1/contacts/check", json=bodies[0], headers=headers, timeout=120)  # loads the index
    quiet_until = time.perf_counter() + 10
    quiet, quiet_errors = _check_round(server, key, bodies, lambda: time.perf_counter() > quiet_until)

    started = httpx.post(f"{server.url}/v1/jobs/scan", json={"entity": "contact"}, headers=headers, timeout=60)
    if started.status_code != 202:
        return [["POST /v1/jobs/scan", f"{started.status_code} {started.text[:200]}"]]
    job_id = started.json()["job_id"]
    state: dict[str, Any] = {"status": "queued"}
    t0 = time.perf_counter()

    def watch() -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
            while state["status"] not in ("done", "failed") and time.perf_counter() - t0 < 1800:
                try:
                    state.update(http.get(f"/v1/jobs/{job_id}").json())
                except (httpx.HTTPError, ValueError) as exc:
                    state["error"] = repr(exc)
                time.sleep(0.5)
            state["seconds"] = time.perf_counter() - t0

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    busy, busy_errors = _check_round(server, key, bodies, lambda: not watcher.is_alive())
    ms = 1000.0
    return [["checks without a scan (10 s)", f"{len(quiet)} requests, {len(quiet_errors)} errors, "
             f"p50 {_pct(quiet, 0.5) * ms:.0f} ms, p95 {_pct(quiet, 0.95) * ms:.0f} ms"],
            ["scan job", f"{state['status']} in {state.get('seconds', float('nan')):.0f} s"
             + (f" ({state.get('error')})" if state.get("error") else "")],
            ["checks during the scan: errors (must be 0)", f"{len(busy_errors)} of {len(busy)}"
             + (f", e.g. {busy_errors[0]}" if busy_errors else "")],
            ["checks during the scan: latency", f"p50 {_pct(busy, 0.5) * ms:.0f} ms, p95 {_pct(busy, 0.95) * ms:.0f} ms"
             f", max {max(busy, default=float('nan')) * ms:.0f} ms"]]


# -- c. hostile inputs ------------------------------------------------------------------------------

@dataclass
class Hostile:
    label: str
    method: str
    path: str  # sent as is: no client-side normalisation of `..` or escapes
    body: bytes | None = None
    content_type: str | None = "application/json"
    partial: bool = False  # a batch: 200 with the bad item rejected by its index and the rest stored is right


def _hostile_inputs() -> list[Hostile]:
    big = 30_000_000
    # no spaces, "@"-free runs and digit runs with separators: the worst text for the email and phone scanners
    filler = "Петров.Иван-8-916-123-45-67-"
    name_30mb = filler * (big // len(filler.encode()))  # about 30 MB of UTF-8
    name_1mb = (filler * (1_000_000 // len(filler) + 1))[:1_000_000]
    as_json = json.dumps

    def record(name: str, **more: Any) -> bytes:
        return as_json({"name": name, **more}, ensure_ascii=False).encode()

    return [
        Hostile("30 MB single-record body: PUT", "PUT", "/v1/contacts/h-30mb", record(name_30mb, id="h-30mb")),
        Hostile("30 MB single-record body: check", "POST", "/v1/contacts/check", record(name_30mb)),
        Hostile("malformed JSON", "POST", "/v1/contacts/check", b'{"name": "\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd", '),
        Hostile("wrong types", "PUT", "/v1/contacts/h-types",
                as_json({"name": 7, "phones": "+7 916", "emails": [{"a": 1}], "updated_at": [1]}).encode()),
        Hostile("array body", "POST", "/v1/contacts/check", as_json([{"name": "Иван Петров"}]).encode()),
        Hostile("NUL / RTL override / emoji in strings", "PUT", "/v1/contacts/h-nul",
                as_json({"name": "Иван\u0000\u202eвортеП 😀", "phones": ["+7 916\u0000 123-45-67"],
                         "emails": ["ivan\u202e@mail.ru"]}).encode()),
        Hostile("form-encoded body", "POST", "/v1/contacts/check", b"name=Ivan+Petrov&phones=%2B79161234567",
                "application/x-www-form-urlencoded"),
        Hostile("5,000-digit id in the path", "GET", "/v1/contacts/" + "9" * 5000, None, None),
        Hostile("negative limit", "GET", "/v1/groups?entity=contacts&limit=-1", None, None),
        Hostile("broken cursor", "GET", "/v1/groups?entity=contacts&cursor=%FF%FE..%2F!!", None, None),
        Hostile("path traversal: encoded", "GET", "/v1/contacts/..%2F..%2Fetc%2Fpasswd", None, None),
        Hostile("path traversal: /ui", "GET", "/ui/../../etc/passwd", None, None),
        Hostile("1 MB name", "POST", "/v1/contacts/check", record(name_1mb)),
        # beyond the eleven: its other findings on the same paths
        Hostile("(extra) 20,000-character name", "POST", "/v1/contacts/check", record(name_1mb[:20_000])),
        Hostile("(extra) lone surrogate in one item of a batch", "POST", "/v1/contacts:batch",
                b'{"records": [{"id": "h-s1", "name": "\\ud800 x"}, {"id": "h-s2", "name": "Ivan Petrov"}]}',
                partial=True),
    ]


class HealthPoller:
    """Polls /healthz back to back; `worst(since)` is the slowest answer among polls started since then.

    A poll that fails or times out counts as its full duration (at least HEALTH_TIMEOUT_S if it timed out).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.polls: list[tuple[float, float, bool]] = []  # (started, seconds, answered 200)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(self.url.split("//")[1], timeout=HEALTH_TIMEOUT_S)
                conn.request("GET", "/healthz")
                ok = conn.getresponse().status == 200
                conn.close()
            except OSError:
                ok = False
            self.polls.append((started, time.perf_counter() - started, ok))
            time.sleep(0.05)

    def start(self) -> HealthPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=HEALTH_TIMEOUT_S + 5)

    def worst(self, since: float, until: float) -> tuple[float, bool]:
        """(slowest poll started in [since, until], all of them answered 200), waiting for the one in flight."""
        deadline = time.perf_counter() + HEALTH_TIMEOUT_S + 2
        while time.perf_counter() < deadline and not any(p[0] > until for p in self.polls):
            time.sleep(0.02)
        window = [p for p in self.polls if since - 0.1 <= p[0] <= until] or self.polls[-1:]
        return max(p[1] for p in window), all(p[2] for p in window)


def _send(server: Server, key: str, h: Hostile) -> tuple[int | str, str, str, float]:
    """(status or the failure, content type, a bit of the body, seconds) of one raw request."""
    headers = {"Authorization": f"Bearer {key}"}
    if h.content_type:
        headers["Content-Type"] = h.content_type
    t0 = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HOSTILE_TIMEOUT_S)
        # the server may answer (413) and close before the whole body is sent: read that answer
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.request(h.method, h.path, body=h.body, headers=headers)
        response = conn.getresponse()
        body = response.read(4000).decode("utf-8", errors="replace")
        conn.close()
        return response.status, response.getheader("content-type") or "", body, time.perf_counter() - t0
    except TimeoutError:
        return "timeout", "", "", time.perf_counter() - t0
    except OSError as exc:  # e.g. the server closed the connection while the body was still being sent
        return type(exc).__name__, "", str(exc)[:200], time.perf_counter() - t0


def _one_rejected(body: str) -> bool:
    """A batch answer that rejected item 0 and stored the other."""
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    rejected = answer.get("rejected") or []
    return [r.get("index") for r in rejected] == [0] and answer.get("stored") == 1


def probe_hostile(server: Server, key: str) -> tuple[list[list[str]], list[str]]:
    rows: list[list[str]] = []
    notes: list[str] = []
    poller = HealthPoller(server.url).start()
    try:
        for h in _hostile_inputs():
            if not server.healthy(timeout=5):
                poller.stop()
                server.kill()
                server.start()
                notes.append(f"server restarted (SIGKILL) before {h.label!r}: /healthz did not answer in 5 s")
                poller = HealthPoller(server.url).start()
            time.sleep(0.3)  # a few polls before, so the window has a baseline
            since = time.perf_counter()
            status, content_type, body, seconds = _send(server, key, h)
            health_s, health_ok = poller.worst(since, time.perf_counter())
            problem_ok = content_type.split(";")[0].strip() == PROBLEM
            refused = isinstance(status, int) and 400 <= status < 500 and problem_ok
            ok = (refused or (h.partial and status == 200 and _one_rejected(body))) and seconds < 1 \
                and health_s < 1 and health_ok
            rows.append([h.label, str(status), content_type or "-", f"{seconds:.2f}",
                         f"{health_s:.2f}" + ("" if health_ok else " (failed)"), "ok" if ok else "FAIL"])
            if not ok:
                notes.append(f"{h.label}: {h.method} {h.path[:80]} -> {status} {content_type} {body[:300]!r}")
    finally:
        poller.stop()
    return rows, notes


# -- the run ------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="generated contacts in the store")
    parser.add_argument("--kill-after", type=int, default=300, help="acknowledged decisions before the SIGKILL")
    parser.add_argument("--only", choices=["kill", "scan", "hostile"], action="append",
                        help="run only these parts (repeatable); default all")
    args = parser.parse_args()
    parts = set(args.only or ["kill", "scan", "hostile"])

    from training.synthetic import generate_contacts, write_set

    with tempfile.TemporaryDirectory(prefix="bench-hardening-") as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        synthetic = generate_contacts(args.n, seed=1111)
        page, _ = write_set(synthetic, tmp)
        db = tmp / "store.duckdb"
        _cli("import", str(page), "--entity", "contact", "--account", "bench", "--db", str(db), "-q", cwd=tmp)
        key = _cli("accounts", "create", "bench", "--db", str(db), cwd=tmp).strip().splitlines()[-1]
        entities = synthetic.entities
        ids = [str(e["id"]) for e in entities]
        server = Server(db, tmp)
        start_s = server.start()
        print(f"hardening probe: {args.n:,} generated contacts (store ready in {time.perf_counter() - t0:.0f} s), "
              f"crm-dedup serve up in {start_s:.1f} s, {CLIENTS} client threads")
        try:
            if "kill" in parts:
                print("\na. kill -9 while 4 clients post decisions, then restart on the same store")
                _table(["measure", "value"], probe_kill(server, key, ids, args.kill_after))
            if "scan" in parts:
                print(f"\nb. {CLIENTS} clients checking during a scan of {args.n:,} contacts")
                _table(["measure", "value"], probe_scan(server, key, entities))
            if "hostile" in parts:
                print("\nc. hostile inputs (each must be 4xx problem+json in < 1 s, /healthz < 1 s meanwhile)")
                rows, notes = probe_hostile(server, key)
                _table(["input", "status", "content-type", "seconds", "healthz max s", "verdict"], rows)
                failed = sum(1 for r in rows if r[-1] != "ok")
                print(f"  {len(rows) - failed} of {len(rows)} ok")
                for note in notes:
                    print(f"  - {note}")
        finally:
            server.stop()
            log = server.log.read_text(encoding="utf-8", errors="replace")
            tracebacks = log.count("Traceback")
            print(f"\nserver log: {server.starts} starts, {tracebacks} tracebacks")
            if tracebacks:
                first = log.index("Traceback")
                print(log[max(0, first - 500):first + 3000])


if __name__ == "__main__":
    run_reporting(main, __file__)
