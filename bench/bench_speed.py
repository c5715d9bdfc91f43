"""`make bench` for issue 15's speed targets: `crm-dedup dedupe` and `crm-dedup import` of 318,000 contacts.

Prints wall time and peak RSS of the command's whole process tree (the CLI and its normalizing workers),
the ratio to `json.load` of the same file in the same run, pairs scored per second per core, and the
quality of the groups against the generator's truth. Never fails on the numbers.

The file is bench_core's 318k set (same generator and seed), cached under var/bench/ since generating
it takes about a minute.

    python bench/bench_speed.py [--n 318000] [--skip-import] [--skip-dedupe]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchkit import run_reporting  # noqa: E402

from resolver import csvsafe  # noqa: E402
from training.evaluate import hard_negative_fp_rate, pairwise_scores  # noqa: E402

BENCH_SEED = 1001 + 1  # bench_core.bench_big's seed: the same 318k set
CACHE = ROOT / "var" / "bench"


def bench_file(n: int) -> tuple[Path, Path]:
    """The amoCRM page of `n` generated contacts and its truth CSV, generated once and kept in var/bench/."""
    page, truth = CACHE / f"contacts_{n}_seed{BENCH_SEED}.json", CACHE / f"contacts_{n}_seed{BENCH_SEED}_truth.csv"
    if page.is_file() and truth.is_file():
        return page, truth
    from training.synthetic import generate_contacts, write_set

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=ROOT) as d:
        written, written_truth = write_set(generate_contacts(n, seed=BENCH_SEED), Path(d))
        CACHE.mkdir(parents=True, exist_ok=True)
        shutil.move(written_truth, truth)
        shutil.move(written, page)
    print(f"generated {n:,} contacts into {page.relative_to(ROOT)} in {time.perf_counter() - t0:.1f} s")
    return page, truth


class TreeSampler:
    """Peak memory of a process tree, sampled every 20 ms: the process's RSS plus its children's USS (forked
    workers share the parent's pages; their RSS would count those twice)."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                total = self.root.memory_info().rss
                for p in self.root.children(recursive=True):
                    with contextlib.suppress(psutil.Error):  # a worker that just ended
                        total += p.memory_full_info().uss
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            self._stop.wait(0.02)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_cli(args: list[str]) -> tuple[float, float, int, str, int]:
    """(wall seconds, CPU seconds, peak tree RSS bytes, stderr, return code) of `crm-dedup ARGS`.

    CPU seconds (user + system of the command and its workers) say more than wall on a shared machine.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid)
    _, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, sampler.stop(), stderr, proc.returncode


def json_load_seconds(path: Path) -> float:
    t0 = time.perf_counter()
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)
    elapsed = time.perf_counter() - t0
    del data
    gc.collect()
    return elapsed


def _truth(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    truth: dict[str, str] = {}
    hard: dict[str, str] = {}
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            truth[row["record_id"]] = row["entity_key"]
            if row["hard_negative"]:
                hard[row["record_id"]] = row["hard_negative"]
    return truth, hard


def _pairs_in(stderr: str) -> int | None:
    for line in stderr.splitlines():
        if "scored pairs" in line:
            head = line.split(" scored pairs")[0].rsplit(" ", 1)[-1]
            return int(head) if head.isdigit() else None
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=318_000)
    parser.add_argument("--skip-dedupe", action="store_true")
    parser.add_argument("--skip-import", action="store_true")
    args = parser.parse_args()
    page, truth_path = bench_file(args.n)
    cores = os.cpu_count() or 1
    load_s = json_load_seconds(page)
    size_mb = page.stat().st_size / 1e6
    print(f"speed: {args.n:,} contacts, {size_mb:.0f} MB amoCRM JSON, {cores} cores; "
          f"json.load of the file {load_s:.1f} s")
    with tempfile.TemporaryDirectory() as d:
        if not args.skip_dedupe:
            out = Path(d) / "groups.csv"
            wall, cpu, peak, stderr, rc = run_cli(["dedupe", str(page), "--entity", "contact", "--out", str(out), "-q"])
            if rc != 0:
                print(f"  dedupe FAILED ({rc}): {stderr[-2000:]}")
            else:
                pairs = _pairs_in(stderr)
                rate = f"{pairs / wall / cores:,.0f}" if pairs else "?"
                print(f"  crm-dedup dedupe: {wall:.1f} s wall ({wall / load_s:.1f}x json.load), {cpu:.1f} s CPU, "
                      f"peak RSS {peak / 1e9:.2f} GB (process tree); {pairs or '?'} pairs, "
                      f"{rate} pairs/s per core (of wall)")
                groups: dict[str, list[str]] = {}
                with out.open(encoding="utf-8") as fh:
                    for row in csv.DictReader(fh):
                        groups.setdefault(row["group_id"], []).append(csvsafe.restore(row["record_id"]))
                truth, hard = _truth(truth_path)
                pw = pairwise_scores(groups.values(), truth)
                hn, wrong, total = hard_negative_fp_rate(groups.values(), truth, hard)
                print(f"    pairwise precision {pw.precision:.4f}  recall {pw.recall:.4f}  F1 {pw.f1:.4f}; "
                      f"hard-negative false positives {hn:.2%} ({wrong} of {total})")
        if not args.skip_import:
            db = Path(d) / "bench.duckdb"
            wall, cpu, peak, stderr, rc = run_cli(["import", str(page), "--entity", "contact", "--account", "bench",
                                              "--db", str(db), "-q"])
            if rc != 0:
                print(f"  import FAILED ({rc}): {stderr[-2000:]}")
            else:
                print(f"  crm-dedup import: {wall:.1f} s wall ({wall / load_s:.1f}x json.load), {cpu:.1f} s CPU, "
                      f"peak RSS {peak / 1e9:.2f} GB (process tree)")


if __name__ == "__main__":
    run_reporting(main, __file__)
