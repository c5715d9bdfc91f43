"""amoCRM sync figures (issue 12): the stand-in with 2,000 contacts and 500 companies at 7 requests/s, the
service against it. Prints; never fails.

- the initial import: time, pages, records stored, the highest request rate amoCRM saw in any second
- a new duplicate contact created by an "integration": the webhook's answer time, the time until its
  `/duplicates` shows the match, the time until the tag arrives in amoCRM
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, for `amocrm` without an install

from benchkit import free_port, run_reporting

from amocrm.demo import ACCOUNT, duplicate_of, running, wait

CONTACTS, COMPANIES, RATE, NEW_DUPLICATES = 2000, 500, 7.0, 5


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        with running(db=db, port=free_port(), contacts=CONTACTS, companies=COMPANIES, rate=RATE,
                     log=Path(tmp) / "serve.log") as demo:
            t0 = time.monotonic()
            job_id = demo.install()
            job = wait(lambda: (j := demo.job(job_id))["status"] in ("done", "failed") and j, 900, "import")
            took = time.monotonic() - t0
            status = demo.status()
            requests = demo.standin.api_requests(ACCOUNT)
            print(f"import of {CONTACTS} contacts + {COMPANIES} companies at {RATE:g} requests/s: {took:.1f} s "
                  f"(job {job['status']}, import and scan), {status['import']['pages_done']} pages, "
                  f"{status['import']['records']} records stored "
                  f"({'all' if status['import']['records'] == CONTACTS + COMPANIES else 'NOT all'}); "
                  f"{len(requests)} API requests, max {demo.standin.max_rate(ACCOUNT)} in any second, "
                  f"{sum(r.status == 429 for r in requests)} answered 429")
            answers, seen, tagged = [], [], []
            copied: set[int] = set()
            for _ in range(NEW_DUPLICATES):
                body = duplicate_of(demo.standin, copied)
                original = str(body.pop("_copies"))
                before = len(demo.standin.deliveries)
                start = time.monotonic()
                new = demo.standin.create(ACCOUNT, "contacts", body)
                found = wait(lambda n=new["id"]: demo.duplicates(n), 30, "duplicates")
                seen.append(time.monotonic() - start)
                if original not in found:
                    print(f"  contact {new['id']}: the copied contact {original} is not among {sorted(found)}")
                wait(lambda n=new["id"]: "дубль" in demo.standin.tags_of(ACCOUNT, "contacts", n), 30, "tag")
                tagged.append(time.monotonic() - start)
                delivery = next(d for d in demo.standin.deliveries[before:] if f"%5D={new['id']}&" in d.body)
                answers.append(delivery.seconds)
                time.sleep(1)
            print(f"new duplicate contact ({NEW_DUPLICATES} runs, median / max): webhook answered in "
                  f"{statistics.median(answers) * 1000:.0f} / {max(answers) * 1000:.0f} ms; /duplicates shows the "
                  f"match after {statistics.median(seen):.2f} / {max(seen):.2f} s; the tag arrives after "
                  f"{statistics.median(tagged):.2f} / {max(tagged):.2f} s")
            print(f"max request rate over the whole run: {demo.standin.max_rate(ACCOUNT)} in any second "
                  f"(limit {RATE:g})")


if __name__ == "__main__":
    run_reporting(main, __file__)
