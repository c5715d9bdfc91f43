"""`make bench`: full scan of a stored base vs an incremental scan after changing some of its records.

Prints numbers; never fails on them (the issue's targets: scan of 318,000 stored contacts <= 8 s;
1,000 changed records in that base, incremental scan <= 1 s). The incremental scan's pairs and groups
are compared with a full scan of the same base afterwards (they must be identical).

    python bench/bench_incremental.py [--n 318000] [--changed 1000] [--db STORE.duckdb --account NAME]

Without --db, N generated contacts are imported into a temporary store first (minutes at 318,000).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resolver.incremental import incremental_scan  # noqa: E402
from resolver.ingest import read_amocrm  # noqa: E402
from resolver.linkage import load_model  # noqa: E402
from resolver.records import Record  # noqa: E402
from resolver.scan import ingest, scan  # noqa: E402
from resolver.store import Store  # noqa: E402
from training.synthetic import generate_contacts  # noqa: E402

BENCH_SEED = 1003


def _outcome(store: Store, account: str) -> tuple[list[tuple[str, str, float]], list[tuple[str, ...]]]:
    rows = store._execute("SELECT left_id, right_id, match_probability FROM pairs WHERE account_id = ? "
                          "AND entity = 'contact' ORDER BY 1, 2", [account], step="bench").fetchall()
    pairs = [(a, b, round(float(p), 6)) for a, b, p in rows]
    groups: dict[str, list[str]] = {}
    for row in store.groups_export(account, "contact"):
        groups.setdefault(row["group_id"], []).append(row["record_id"])
    return pairs, sorted((gid, *sorted(m)) for gid, m in groups.items())


def _changes(records: list[Record], n: int, seed: int) -> list[Record]:
    """n records changed the way CRM edits change them: a phone, an email or a name taken from another record."""
    rng = random.Random(seed)
    later = datetime.now(UTC) + timedelta(minutes=1)
    out = []
    for r in rng.sample(records, n):
        donor = rng.choice(records)
        kind = rng.randrange(3)
        if kind == 0:
            out.append(replace(r, phones=donor.phones, updated_at=later))
        elif kind == 1:
            out.append(replace(r, emails=donor.emails, updated_at=later))
        else:
            out.append(replace(r, name=donor.name, updated_at=later))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=318_000)
    parser.add_argument("--changed", type=int, default=1_000)
    parser.add_argument("--db", type=Path, help="a stored base to copy (else one is generated)")
    parser.add_argument("--account", default="bench")
    parser.add_argument("--seed", type=int, default=BENCH_SEED, help="the generator's seed (of --db's base too)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("splink").setLevel(logging.ERROR)
    model = load_model("contact")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.duckdb"
        t0 = time.perf_counter()
        synthetic = generate_contacts(args.n, seed=args.seed)
        records = read_amocrm(synthetic.entities, "contact")
        if args.db:
            shutil.copy(args.db, path)
        else:
            with Store(path) as store:
                ingest(store, account_id=args.account, entity="contact", records=records)
        print(f"incremental scans: base of {args.n:,} contacts ready in {time.perf_counter() - t0:.1f} s")
        with Store(path) as store:
            n_live = store.count_records(args.account, "contact")
            t0 = time.perf_counter()
            full = scan(store, account_id=args.account, model=model)
            full_s = time.perf_counter() - t0
            print(f"  full scan of {n_live:,} stored contacts: {full_s:.2f} s wall, {full.n_pairs:,} pairs, "
                  f"{full.n_groups:,} groups; steps {full.seconds}")
            live = {r.record_id for r in records}
            changes = _changes([r for r in records if r.record_id in live], args.changed, BENCH_SEED)
            t0 = time.perf_counter()
            ingest(store, account_id=args.account, entity="contact", records=changes)
            ingest_s = time.perf_counter() - t0
            t0, c0 = time.perf_counter(), os.times()
            inc = incremental_scan(store, account_id=args.account, model=model)
            inc_s, c1 = time.perf_counter() - t0, os.times()
            cpu = c1.user - c0.user + c1.system - c0.system  # walls are noisy on a shared machine
            print(f"  {args.changed:,} changed records (upsert {ingest_s:.2f} s): {inc.mode} scan {inc_s:.2f} s wall, "
                  f"{cpu:.2f} s user+sys CPU"
                  f"{' (' + inc.fallback + ')' if inc.fallback else ''}, {inc.n_rescored} pairs scored again; "
                  f"steps {inc.seconds}")
            got = _outcome(store, args.account)
            t0 = time.perf_counter()
            scan(store, account_id=args.account, model=model)
            again_s = time.perf_counter() - t0
            want = _outcome(store, args.account)
            same = got == want
            print(f"  full scan of the same base afterwards: {again_s:.2f} s; incremental result identical: {same}"
                  + ("" if same else f" (pairs {len(got[0])} vs {len(want[0])}, groups {len(got[1])} vs "
                                     f"{len(want[1])})"))
            print(f"  speed-up {again_s / max(inc_s, 1e-9):.0f}x; peak RSS "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024:.2f} GB")


if __name__ == "__main__":
    main()
