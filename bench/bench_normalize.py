"""`make bench` for issue 15 item 1: what normalizing one contact costs, in µs per record.

Reads the first `--n` contacts of the 318k bench file (bench_speed's, under var/bench/) with the file reader,
then times `normalize_contact` over them in this process with empty caches, as one normalizing worker
sees its share of a file: the first pass (cold caches: what `crm-dedup dedupe` pays) and a second pass
(every value remembered). Prints distinct-value shares (how often a value repeats) and, with
`--profile`, the top of a cProfile of the cold pass. Never fails on the numbers.

    python bench/bench_normalize.py [--n 50000] [--stride 2] [--profile]

`--stride 2` takes every second record, as each of the two workers does with alternate batches (a
worker's caches only see its own share, so repeats are rarer than in the whole file).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchkit import run_reporting  # noqa: E402

from resolver.entities import normalize_contact  # noqa: E402
from resolver.ingest.jsonstream import iter_amocrm_batches  # noqa: E402
from resolver.normalize.memo import clear_memos  # noqa: E402
from resolver.records import Record  # noqa: E402

BENCH_FILE = ROOT / "var" / "bench" / "contacts_318000_seed1002.json"


def load(path: Path, n: int, stride: int) -> list[Record]:
    """The first `n` records of the file (every `stride`-th batch of the reader's), raw objects dropped."""
    out: list[Record] = []
    for i, batch in enumerate(iter_amocrm_batches(path, "contact", keep_raw=False)):
        if i % stride == 0:
            out.extend(batch)
        if len(out) >= n:
            break
    return out[:n]


def _share(values: list[object]) -> str:
    return f"{len(set(values)) / max(1, len(values)):.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=BENCH_FILE)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--stride", type=int, default=2, help="take every N-th reader batch (2: one worker's share)")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile of the cold pass")
    args = parser.parse_args()
    if not args.file.is_file():
        print(f"bench_normalize: {args.file} is missing (python bench/bench_speed.py generates it)")
        return
    t0 = time.perf_counter()
    records = load(args.file, args.n, args.stride)
    print(f"read {len(records):,} contacts in {time.perf_counter() - t0:.1f} s")
    names = [r.name for r in records]
    phones = [p for r in records for p in r.phones]
    emails = [e for r in records for e in r.emails]
    companies = [r.company_name for r in records if r.company_name]
    print(f"distinct: names {_share(names)}, phone values {_share(phones)} of {len(phones):,}, "
          f"email values {_share(emails)} of {len(emails):,}, companies {_share(companies)} of {len(companies):,}")

    clear_memos()
    gc.collect()
    profiler = cProfile.Profile() if args.profile else None
    t0, c0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for record in records:
        normalize_contact(record)
    if profiler:
        profiler.disable()
    cold, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    for record in records:
        normalize_contact(record)
    warm, warm_cpu = time.perf_counter() - t0, time.process_time() - c0
    n = max(1, len(records))
    # CPU time is what a loaded machine disturbs least; wall time is what a run waits for
    print(f"normalize_contact: cold {cold_cpu / n * 1e6:.1f} µs/record CPU ({cold / n * 1e6:.1f} wall, "
          f"{cold:.2f} s), warm {warm_cpu / n * 1e6:.1f} µs/record CPU ({warm / n * 1e6:.1f} wall)"
          + (" [under cProfile]" if profiler else ""))
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())


if __name__ == "__main__":
    run_reporting(main, __file__)
