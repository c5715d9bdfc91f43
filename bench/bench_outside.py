"""`make bench`: matching quality on real public data from outside, beside Splink's tutorial setup (and dedupe).

The file: Chicago early-childhood centres (bench/data/chicago_childcare, DataMade's dedupe-examples, MIT):
3,337 records of 1,162 sites from several city lists; site names, street addresses, 7-digit local phones.
Nothing here is tuned on it: crm-dedup runs as its README says for such a file, Splink as its tutorial
shows, dedupe (optional: env DEDUPE_PYTHON, a python with `dedupe` installed) by active learning with
labels answered from the truth. Prints numbers; never fails on them. Walls depend on the machine's load.

    python bench/bench_outside.py [--skip-splink] [--dedupe-labels 50 100] [--dedupe-seeds 3]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from training.evaluate import bcubed_scores, pairwise_scores  # noqa: E402

DATA = ROOT / "bench" / "data" / "chicago_childcare" / "csv_example_input_with_true_ids.csv.gz"
TRUTH_COLUMN = "True Id"
# The README's command for an organisation file with addresses and local phones (what a user would run)
CRM_DEDUP_ARGS = ["--entity", "company", "--map", 'name=Site name', "--field", "Address=address",
                  "--region", "US"]


def write_input(directory: Path) -> tuple[Path, dict[str, str]]:
    """The file as the tools get it (without the truth column) and the truth: record id -> entity."""
    with gzip.open(DATA, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = [f for f in reader.fieldnames or [] if f != TRUTH_COLUMN]
        rows = list(reader)
    path = directory / "chicago_childcare.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path, {r["Id"]: r[TRUTH_COLUMN] for r in rows}


def report(label: str, groups: list[list[str]], truth: dict[str, str], seconds: float | None = None) -> float:
    p, b = pairwise_scores(groups, truth), bcubed_scores(groups, truth)
    wall = f"  {seconds:6.1f} s" if seconds is not None else ""
    print(f"{label:44s} pairwise P {p.precision:.3f} R {p.recall:.3f} F1 {p.f1:.3f}   "
          f"B-cubed P {b.precision:.3f} R {b.recall:.3f} F1 {b.f1:.3f}{wall}", flush=True)
    return p.f1


def run_crm_dedup(path: Path, directory: Path, extra: list[str]) -> tuple[list[list[str]], float]:
    out = directory / "groups.csv"
    cmd = [sys.executable, "-m", "api.cli", "dedupe", str(path), *extra, "--out", str(out), "-q"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    by_group: dict[str, list[str]] = {}
    with out.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            by_group.setdefault(row["group_id"], []).append(row["record_id"])
    return list(by_group.values()), seconds


def splink_tutorial(path: Path) -> tuple[list[list[str]], float]:
    """Splink as its tutorial sets up a dedupe: light cleaning, name/address/phone/zip comparisons,
    prior from deterministic rules, u by random sampling, m by EM, clusters at 0.95."""
    import pandas as pd
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    t0 = time.perf_counter()
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    clean = pd.DataFrame({
        "unique_id": df["Id"],
        "site_name": df["Site name"].str.lower().str.replace(r"[^\w ]", " ", regex=True).str.split().str.join(" "),
        "address": df["Address"].str.lower().str.replace(r"[^\w ]", " ", regex=True).str.split().str.join(" "),
        "phone": df["Phone"].str.replace(r"\D", "", regex=True),
        "zip": df["Zip"].str.strip(),
    }).replace("", None)
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.JaroWinklerAtThresholds("site_name", [0.9, 0.8]),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.8]),
            cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
            cl.ExactMatch("zip"),
        ],
        blocking_rules_to_generate_predictions=[block_on("phone"), block_on("address"),
                                                block_on("substr(site_name, 1, 5)")],
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(clean), settings, log_level="ERROR")
    linker.training.estimate_probability_two_random_records_match(
        [block_on("site_name", "address"), block_on("phone", "site_name")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("phone"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("substr(site_name, 1, 5)"))
    pairs = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pairs, 0.95).as_pandas_dataframe()
    groups = clusters.groupby("cluster_id")["unique_id"].apply(lambda s: [str(x) for x in s]).tolist()
    return [g for g in groups if len(g) > 1], time.perf_counter() - t0


def run_dedupe(python: str, path: Path, truth: dict[str, str], labels: int, seed: int) -> tuple[list[list[str]], float]:
    script = Path(__file__).with_name("dedupe_active_learning.py")
    t0 = time.perf_counter()
    out = subprocess.run([python, str(script), str(path), str(labels), str(seed)], input=json.dumps(truth),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument("--dedupe-labels", type=int, nargs="*", default=[50, 100])
    parser.add_argument("--dedupe-seeds", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("splink").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        path, truth = write_input(directory)
        n_entities = len(set(truth.values()))
        print(f"Chicago early-childhood centres: {len(truth)} records, {n_entities} entities (pairwise and B-cubed "
              "against the true ids; walls measured under load)", flush=True)
        print(f"crm-dedup command: crm-dedup dedupe FILE {shlex.join(CRM_DEDUP_ARGS)}")
        groups, seconds = run_crm_dedup(path, directory, CRM_DEDUP_ARGS)
        report("crm-dedup (README command)", groups, truth, seconds)
        plain = ["--entity", "company", "--map", "name=Site name", "--field", "Address=text"]
        groups, seconds = run_crm_dedup(path, directory, plain)
        report("crm-dedup (address as text, no --region)", groups, truth, seconds)
        if not args.skip_splink:
            groups, seconds = splink_tutorial(path)
            report("Splink, tutorial setup (same fields)", groups, truth, seconds)
        python = os.environ.get("DEDUPE_PYTHON")
        if not python:
            print("dedupe active learning: skipped (set DEDUPE_PYTHON to a python with `dedupe` installed)")
            return
        for labels in args.dedupe_labels:
            f1s = []
            for seed in range(1, args.dedupe_seeds + 1):
                groups, seconds = run_dedupe(python, path, truth, labels, seed)
                f1s.append(report(f"dedupe active learning, {labels} labels, seed {seed}", groups, truth, seconds))
            print(f"dedupe active learning, {labels} labels: mean pairwise F1 {sum(f1s) / len(f1s):.3f} "
                  f"(min {min(f1s):.3f}, max {max(f1s):.3f})", flush=True)


if __name__ == "__main__":
    main()
