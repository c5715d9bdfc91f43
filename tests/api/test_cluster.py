"""Several processes on one PostgreSQL store: two API workers (`serve --workers 2`), two job workers
(`crm-dedup worker`), the CLI beside them. Four accounts scan at once; one job worker is killed (SIGKILL)
in the middle of a scan and the job still finishes, once; every account's groups and pairs are those the
DuckDB store gives on the same data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from resolver.store import open_store
from tests.servers import clean_env, crm_dedup, served
from training.synthetic import generate_contacts, write_set

pytestmark = pytest.mark.timeout(900)

ACCOUNTS = ("north", "south", "east", "west")
CONTACTS = 2500  # per account: a scan long enough to be killed in the middle of on a busy 2-core machine
LEASE_SECONDS = "5"
DEADLINE_S = 600.0  # a generous ceiling for the four scans, not a speed target


def start_worker(env: dict[str, str], cwd: Path, n: int) -> subprocess.Popen[str]:
    log = (cwd / f"worker-{n}.log").open("w", encoding="utf-8")
    return subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--lease-seconds", LEASE_SECONDS,
                             "--poll-seconds", "1", "-v"], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=log, text=True)


def pairs_and_groups(target: str | Path, account: str) -> tuple[list[tuple], list[tuple]]:
    """An account's last-scan pairs (ids, probability to 9 places) and groups export rows, as a store holds them."""
    with open_store(target) as store:
        pairs = store._execute("SELECT left_id, right_id, match_probability FROM pairs WHERE account_id = ? "
                              "AND entity = 'contact' ORDER BY left_id, right_id", [account]).fetchall()
        groups = store.groups_export(account, "contact")
    return ([(a, b, round(p, 9)) for a, b, p in pairs],
            [(g["group_id"], g["record_id"], round(g["group_score"], 9), g["is_survivor"]) for g in groups])


def test_four_accounts_scan_at_once_and_a_killed_worker_s_job_finishes_once(tmp_path, postgres_server):
    url = postgres_server.new_database()
    env = clean_env(CRM_DEDUP_DATABASE_URL=url)
    pages = {}
    for i, account in enumerate(ACCOUNTS):
        pages[account], _ = write_set(generate_contacts(CONTACTS, seed=40 + i), tmp_path / account)

    with served(url, env=env, cwd=tmp_path, args=("--workers", "2")) as server:
        # the CLI works on the store while the service runs: accounts, keys, imports
        keys = {}
        for account in ACCOUNTS:
            done = crm_dedup("accounts", "create", account, env=env, cwd=tmp_path)
            assert done.returncode == 0, done.stderr
            keys[account] = {"Authorization": f"Bearer {done.stdout.strip().splitlines()[-1]}"}
            done = crm_dedup("import", str(pages[account]), "--entity", "contact", "--account", account, "-q",
                             env=env, cwd=tmp_path)
            assert done.returncode == 0, done.stderr
        # a contact written through one API worker is found by the check of every worker: each one's check
        # index follows the rows stamped since its last look (fresh connections spread over both workers)
        probe = {"name": "Бенедикт Тимофеевич Зайцев-Орловский", "phones": ["+7 999 123-45-67"]}
        made = crm_dedup("accounts", "create", "solo", env=env, cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        headers = {"Authorization": f"Bearer {made.stdout.strip().splitlines()[-1]}"}
        assert httpx.post(f"{server.url}/v1/contacts:batch", headers=headers,
                          json={"records": [{"id": "old-1", "name": "Анна Каренина"}]}).status_code == 200
        for _ in range(8):  # every worker loads the account's base once
            assert httpx.post(f"{server.url}/v1/contacts/check", json=probe, headers=headers).status_code == 200
        written = httpx.post(f"{server.url}/v1/contacts:batch", headers=headers,
                             json={"records": [{"id": "fresh-1", **probe}]})
        assert written.status_code == 200, written.text
        found = [[m["record_id"] for m in httpx.post(f"{server.url}/v1/contacts/check", json=probe,
                                                      headers=headers).json()["matches"]] for _ in range(8)]
        assert found == [["fresh-1"]] * 8
        workers = [start_worker(env, tmp_path, n) for n in range(2)]
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client, ThreadPoolExecutor(4) as pool:
                submitted = list(pool.map(
                    lambda a: client.post("/v1/jobs/scan", json={"entity": "contact"}, headers=keys[a]), ACCOUNTS))
                assert [r.status_code for r in submitted] == [202] * 4, [r.text for r in submitted]
                jobs = {a: r.json()["job_id"] for a, r in zip(ACCOUNTS, submitted, strict=True)}

                # the first job seen past its start is the one whose worker dies
                with open_store(url) as store:
                    victim = killed = None
                    deadline = time.monotonic() + DEADLINE_S
                    while victim is None and time.monotonic() < deadline:
                        rows = store._execute("SELECT job_id, worker FROM jobs WHERE status = 'running' "
                                             "AND percent > 0 ORDER BY percent DESC LIMIT 1").fetchall()
                        if rows:
                            victim, holder = rows[0]
                            pid = int(holder.split(":")[1])
                            killed = next(w for w in workers if w.pid == pid)
                            os.kill(pid, signal.SIGKILL)
                        else:
                            time.sleep(0.05)
                    assert victim is not None and killed is not None, "no scan was seen running"
                    killed.wait(10)

                    finished = {}
                    while len(finished) < len(ACCOUNTS) and time.monotonic() < deadline:
                        for account, job_id in jobs.items():
                            job = client.get(f"/v1/jobs/{job_id}", headers=keys[account]).json()
                            if job["status"] in ("done", "failed"):
                                finished[account] = job
                        time.sleep(0.5)
                    assert {a: j["status"] for a, j in finished.items()} == dict.fromkeys(ACCOUNTS, "done"), finished
                    live = {a: store.count_records(a, "contact") for a in ACCOUNTS}
                    assert {a: j["result"]["records"] for a, j in finished.items()} == live
                    attempts = dict(store._execute("SELECT job_id, attempts FROM jobs WHERE kind = 'scan'").fetchall())
                    # the killed worker's job was taken again by the other one; every other job ran once
                    assert attempts == {j: (2 if j == victim else 1) for j in jobs.values()}
                    # one scan per job: the killed attempt wrote nothing
                    assert store._execute("SELECT count(*) FROM scans").fetchone()[0] == len(ACCOUNTS)
                # the feedback export of the CLI works beside the running service too
                done = crm_dedup("feedback", "export", "--account", "north", env=env, cwd=tmp_path)
                assert (done.returncode, done.stdout) == (0, ""), done.stderr
        finally:
            for w in workers:
                if w.poll() is None:
                    w.send_signal(signal.SIGTERM)
            for w in workers:
                w.wait(60)

    # the same data scanned on a DuckDB file with the CLI: the same pairs and groups, account by account
    db = tmp_path / "reference.duckdb"
    duck_env = clean_env()
    for account in ACCOUNTS:
        for argv in (("import", str(pages[account]), "--entity", "contact"), ("scan", "--entity", "contact")):
            done = crm_dedup(*argv, "--account", account, "--db", str(db), "-q", env=duck_env, cwd=tmp_path)
            assert done.returncode == 0, done.stderr
    for account in ACCOUNTS:
        on_postgres, on_duckdb = pairs_and_groups(url, account), pairs_and_groups(db, account)
        assert on_postgres[0] and on_postgres[1], f"{account}: no pairs or groups"
        assert on_postgres == on_duckdb, account


def test_several_api_workers_need_postgresql(tmp_path):
    done = crm_dedup("serve", "--workers", "2", "--db", str(tmp_path / "one.duckdb"), env=clean_env(), cwd=tmp_path)
    assert done.returncode == 2
    assert "--workers above 1 needs the PostgreSQL store: set CRM_DEDUP_DATABASE_URL" in done.stderr


def test_a_worker_needs_postgresql(tmp_path):
    done = crm_dedup("worker", "--db", str(tmp_path / "one.duckdb"), env=clean_env(), cwd=tmp_path)
    assert done.returncode == 2
    assert "a worker needs the PostgreSQL store" in done.stderr


def test_db_upgrade_brings_either_store_to_the_newest_schema(tmp_path, postgres_server):
    for target in (str(tmp_path / "one.duckdb"), postgres_server.new_database()):
        done = crm_dedup("db", "upgrade", "--db", target, env=clean_env(), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        with open_store(target) as store:
            version = store._execute("SELECT max(version) FROM schema_version").fetchone()[0]
        assert f"is at schema version {version}" in done.stderr and version >= 1
