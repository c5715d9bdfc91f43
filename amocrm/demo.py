"""`make demo-amocrm`: the service connected to a local amoCRM stand-in, so a newcomer watches the sync work.

It starts the stand-in (2,000 contacts and 500 companies, 7 requests/s), starts `crm-dedup serve` against it,
installs the integration as a click on "Разрешить" would, follows the import, and then, every half minute,
has an "integration" create a contact that duplicates one in the base: the webhook arrives, `/duplicates`
finds the match and the tag "дубль" appears on the new contact in the stand-in. The review page stays open
for a look (its address is printed with a key). Ctrl-C stops everything. `bench/bench_amocrm.py` times the
same steps.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt

from amocrm.standin import AmoStandin

ACCOUNT = 29000000
SUBDOMAIN = "example"
CLIENT_ID = "demo-integration"
_T = TypeVar("_T")


@dataclass
class Demo:
    """A running stand-in and service, and how to call the service as the account's widget and its admin."""

    standin: AmoStandin
    url: str
    process: subprocess.Popen[bytes]
    client_secret: str
    admin_token: str

    def widget(self) -> httpx.Client:
        """The service as the widget calls it: an X-Auth-Token signed with the integration's secret."""
        now = int(time.time())
        token = jwt.encode({"account_id": ACCOUNT, "user_id": 504141, "iat": now, "exp": now + 600},
                           self.client_secret, algorithm="HS256")
        return httpx.Client(base_url=self.url, headers={"X-Auth-Token": token}, timeout=30)

    def status(self) -> dict[str, Any]:
        with self.widget() as client:
            answer = client.get("/v1/amocrm/status")
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    def install(self) -> str:
        """The redirect amoCRM makes after "Разрешить"; the import job's id."""
        answer = httpx.get(f"{self.url}/amocrm/oauth/callback", timeout=60, params={
            "code": self.standin.issue_code(ACCOUNT), "referer": f"{SUBDOMAIN}.amocrm.ru"})
        answer.raise_for_status()
        found = re.search(r"job ([0-9a-f]{32})", answer.text)
        if not found:
            raise RuntimeError(f"the install page names no job: {answer.text[:300]}")
        return found.group(1)

    def job(self, job_id: str) -> dict[str, Any]:
        with self.widget() as client:
            found: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        return found

    def review_key(self) -> str:
        answer = httpx.post(f"{self.url}/v1/admin/accounts/{ACCOUNT}/keys", json={"label": "demo review page"},
                            headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=30)
        answer.raise_for_status()
        return str(answer.json()["key"])

    def duplicates(self, record_id: int) -> set[str] | None:
        with self.widget() as client:
            answer = client.get(f"/v1/contacts/{record_id}/duplicates")
        return {m["record_id"] for m in answer.json()["matches"]} if answer.status_code == 200 else None


def wait(probe: Callable[[], _T | None], seconds: float, what: str) -> _T:
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {seconds:.0f} s")
        time.sleep(0.05)  # polling another process


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(*, db: Path, port: int, contacts: int, companies: int, rate: float = 7.0, log: Path | None = None,
            standin_port: int = 0) -> Iterator[Demo]:
    """The stand-in (in this process) and `crm-dedup serve` (a subprocess) wired to each other."""
    secret = secrets.token_urlsafe(32)
    admin = secrets.token_urlsafe(32)
    url = f"http://127.0.0.1:{port}"
    standin = AmoStandin(client_id=CLIENT_ID, client_secret=secret, redirect_uri=f"{url}/amocrm/oauth/callback",
                         rate_limit=rate, disable_hook=f"{url}/amocrm/disable", port=standin_port)
    standin.seed(ACCOUNT, subdomain=SUBDOMAIN, contacts=contacts, companies=companies)
    standin.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_DEDUP_")} | {
        "CRM_DEDUP_AMOCRM_CLIENT_ID": CLIENT_ID, "CRM_DEDUP_AMOCRM_CLIENT_SECRET": secret,
        "CRM_DEDUP_AMOCRM_REDIRECT_URI": f"{url}/amocrm/oauth/callback", "CRM_DEDUP_PUBLIC_URL": url,
        "CRM_DEDUP_AMOCRM_BASE_URL": standin.url, "CRM_DEDUP_SECRET_KEY": secrets.token_urlsafe(32),
        "CRM_DEDUP_ADMIN_TOKEN": admin, "CRM_DEDUP_AMOCRM_CATCHUP_SECONDS": "60"}
    stderr = log.open("w", encoding="utf-8") if log is not None else None
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--db", str(db)],
        env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    demo = Demo(standin, url, process, secret, admin)
    try:
        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"crm-dedup serve exited with {process.returncode}")
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait(answers, 120, "answer from the service")
        yield demo
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        standin.stop()
        if stderr is not None:
            stderr.close()


def duplicate_of(standin: AmoStandin, copied: set[int]) -> dict[str, Any]:
    """A new contact copying the name and phone of a stored one not in `copied` (which it joins), as a
    call-tracking integration would create it; `_copies` names the original."""
    contacts = standin.records(ACCOUNT, "contacts")
    for contact in contacts.values():
        if contact["id"] in copied:
            continue
        phones = [f for f in contact.get("custom_fields_values") or [] if f.get("field_code") == "PHONE"]
        if phones and contact.get("last_name") and not str(contact.get("name", "")).startswith("Нов") \
                and not any(t["name"] == "дубль" for t in contact["_embedded"]["tags"]) \
                and not str(contact["id"]).startswith("9"):
            copied.add(contact["id"])
            return {"name": contact["name"], "first_name": contact.get("first_name"),
                    "last_name": contact.get("last_name"), "custom_fields_values": phones, "_copies": contact["id"]}
    raise RuntimeError("no contact with a name and a phone to copy")


def _one_duplicate(demo: Demo, copied: set[int]) -> None:
    """An integration creates a copy of a stored contact; say when its duplicates, tag and note show up."""
    body = duplicate_of(demo.standin, copied)
    original = body.pop("_copies")
    t0 = time.monotonic()
    new = demo.standin.create(ACCOUNT, "contacts", body)
    new_id = int(new["id"])
    _say(f"an integration created contact {new_id} «{new['name']}» (a copy of {original})")
    found = wait(lambda: demo.duplicates(new_id), 30, "duplicates")
    _say(f"  /duplicates after {time.monotonic() - t0:.2f} s: {sorted(found)}")
    wait(lambda: "дубль" in demo.standin.tags_of(ACCOUNT, "contacts", new_id), 30, "tag")
    _say(f"  tag «дубль» in amoCRM after {time.monotonic() - t0:.2f} s")
    notes = wait(lambda: [x["params"]["text"] for x in demo.standin.notes(ACCOUNT) if x["entity_id"] == new_id],
                 30, "note")
    _say("  note:\n    " + notes[0].replace("\n", "\n    "))


def _stop_on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second signal must not cut the clean-up short
    raise KeyboardInterrupt


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amocrm.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("var/demo-amocrm.duckdb"))
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--standin-port", type=int, default=8765)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--companies", type=int, default=500)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between two new duplicates")
    args = parser.parse_args(argv)
    # a process manager's SIGTERM stops the demo like Ctrl-C: the service subprocess goes down with it
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    args.db.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (args.db, args.db.with_suffix(args.db.suffix + ".wal")):
        leftover.unlink(missing_ok=True)  # a fresh account each run: the stand-in's data is new too
    log = args.db.with_suffix(".log")
    _say(f"starting the amoCRM stand-in ({args.contacts} contacts, {args.companies} companies) and the service "
         f"(log: {log}) …")
    with running(db=args.db, port=args.port, contacts=args.contacts, companies=args.companies, log=log,
                 standin_port=args.standin_port) as demo:
        _say(f"stand-in on {demo.standin.url}, service on {demo.url}")
        job_id = demo.install()
        _say(f"installed: account {ACCOUNT} ({SUBDOMAIN}); import job {job_id} runs at ≤ 7 requests/s")
        while (job := demo.job(job_id))["status"] not in ("done", "failed"):
            s = demo.status()
            _say(f"  import: {s['import']['pages_done']}/{s['import']['pages_estimated']} pages, "
                 f"{s['import']['records']} records, job {job['percent']:.0f} %")
            time.sleep(2)
        _say(f"import {job['status']}: {job.get('result') or job.get('error')}; "
             f"max rate seen by amoCRM: {demo.standin.max_rate(ACCOUNT)} requests/s")
        _say(f"review page: {demo.url}/ui/#key={demo.review_key()}")
        copied: set[int] = set()
        try:
            while True:
                _one_duplicate(demo, copied)
                time.sleep(args.every)
        except KeyboardInterrupt:
            _say("stopping")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
