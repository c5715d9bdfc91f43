"""`make bench` for the core engine: accuracy on generated data and FEBRL, scan time and memory.

Prints numbers; never fails on them (targets are in the issue, not asserted here).

    python bench/bench_core.py [--contacts 20000] [--companies 6000] [--big 318000] [--skip-big]
"""

from __future__ import annotations

import argparse
import csv
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resolver import csvsafe  # noqa: E402
from resolver.entities import ExtraField  # noqa: E402
from resolver.ingest import read_amocrm, read_table  # noqa: E402
from resolver.linkage import load_model  # noqa: E402
from resolver.records import PLURAL  # noqa: E402
from resolver.scan import fit_model, ingest, scan  # noqa: E402
from resolver.store import Store  # noqa: E402
from training.evaluate import bcubed_scores, hard_negative_fp_rate, pairwise_scores  # noqa: E402
from training.synthetic import generate_companies, generate_contacts, write_set  # noqa: E402

FEBRL = ROOT.parent / "shared" / "data" / "febrl" / "dataset3.csv"
BENCH_SEED = 1001  # never used to train or tune the shipped models (those use 11 and 23)


def _groups(store: Store, account: str, entity: str) -> list[list[str]]:
    by_group: dict[str, list[str]] = {}
    for row in store.groups_export(account, entity):
        by_group.setdefault(row["group_id"], []).append(row["record_id"])
    return list(by_group.values())


def _line(label: str, p: float, r: float, f1: float, extra: str = "") -> None:
    print(f"  {label:34s} precision {p:.4f}  recall {r:.4f}  F1 {f1:.4f}{extra}")


def bench_generated(entity: str, n: int) -> None:
    gen = generate_contacts if entity == "contact" else generate_companies
    synthetic = gen(n, seed=BENCH_SEED)
    t0 = time.perf_counter()
    with Store(":memory:") as store:
        ingest(store, account_id="bench", entity=entity, records=read_amocrm(synthetic.entities, entity))
        result = scan(store, account_id="bench", model=load_model(entity))
        groups = _groups(store, "bench", entity)
    elapsed = time.perf_counter() - t0
    pw = pairwise_scores(groups, synthetic.truth)
    b3 = bcubed_scores(groups, synthetic.truth)
    rate, wrong, total = hard_negative_fp_rate(groups, synthetic.truth, synthetic.hard_negatives)
    print(f"generated {PLURAL[entity]}: n={n} seed={BENCH_SEED}, {result.n_pairs} pairs, {result.n_groups} groups, "
          f"{elapsed:.1f} s")
    _line("pairwise", pw.precision, pw.recall, pw.f1, f"  (tp {pw.tp}, fp {pw.fp}, fn {pw.fn})")
    _line("B-cubed", b3.precision, b3.recall, b3.f1)
    print(f"  hard-negative false positives      {rate:.2%} ({wrong} of {total} hard-negative pairs grouped)")


def _febrl_rows() -> tuple[list[dict[str, str]], dict[str, str]]:
    with FEBRL.open(encoding="utf-8") as fh:
        rows = [{k.strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]
    truth = {r["rec_id"]: r["rec_id"].split("-")[1] for r in rows}
    return rows, truth


def bench_febrl_ours(rows: list[dict[str, str]], truth: dict[str, str], tmp: Path) -> None:
    # FEBRL has no phone or email: name = given name + surname; the rest are the account's extra fields
    path = tmp / "febrl3.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "first_name", "last_name", "address", "dob", "ssn"])
        for r in rows:
            address = " ".join(x for x in (r["street_number"], r["address_1"], r["address_2"], r["suburb"],
                                           r["postcode"], r["state"]) if x)
            w.writerow([r["rec_id"], r["given_name"], r["surname"], address, r["date_of_birth"], r["soc_sec_id"]])
    extras = [ExtraField("address", "text", "address"), ExtraField("dob", "date", "dob"),
              ExtraField("ssn", "identifier", "ssn")]
    t0 = time.perf_counter()
    records = read_table(path, "contact", extra_fields={e.name: e.source for e in extras})
    with Store(":memory:") as store:
        ingest(store, account_id="febrl", entity="contact", records=records)
        model = fit_model(store, account_id="febrl", base=load_model("contact"), extras=extras)
        scan(store, account_id="febrl", model=model)
        groups = _groups(store, "febrl", "contact")
    elapsed = time.perf_counter() - t0
    pw, b3 = pairwise_scores(groups, truth), bcubed_scores(groups, truth)
    print(f"FEBRL dataset3 ({len(rows)} records), crm-dedup (contact model + extra fields, fitted on the file, "
          f"p >= {model.review_threshold}), {elapsed:.1f} s")
    _line("pairwise", pw.precision, pw.recall, pw.f1)
    _line("B-cubed", b3.precision, b3.recall, b3.f1)


def bench_febrl_textbook(rows: list[dict[str, str]], truth: dict[str, str], threshold: float) -> None:
    import pyarrow as pa
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from resolver.groups import Edge, build_groups

    cols = ["given_name", "surname", "street_number", "address_1", "suburb", "postcode", "state", "date_of_birth",
            "soc_sec_id"]
    table = pa.table({"unique_id": [r["rec_id"] for r in rows],
                      **{c: [r[c] or None for r in rows] for c in cols}})
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("given_name"), cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.ExactMatch("soc_sec_id"), cl.ExactMatch("street_number"),
            cl.LevenshteinAtThresholds("address_1", 2), cl.ExactMatch("suburb"), cl.ExactMatch("postcode"),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=[block_on("given_name", "surname"), block_on("date_of_birth"),
                                                block_on("soc_sec_id"), block_on("postcode", "street_number")],
    )
    t0 = time.perf_counter()
    linker = Linker(DuckDBAPI().register(table), settings, log_level="ERROR")
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    pairs = linker.inference.predict(threshold_match_probability=threshold).as_record_list()
    groups = [c.members for c in build_groups(
        [Edge(p["unique_id_l"], p["unique_id_r"], p["match_probability"]) for p in pairs], threshold=threshold)]
    elapsed = time.perf_counter() - t0
    pw, b3 = pairwise_scores(groups, truth), bcubed_scores(groups, truth)
    print(f"FEBRL dataset3, plain textbook Splink (Name/DOB/Exact/Levenshtein comparisons, u + 2x EM, "
          f"p >= {threshold}), {elapsed:.1f} s")
    _line("pairwise", pw.precision, pw.recall, pw.f1)
    _line("B-cubed", b3.precision, b3.recall, b3.f1)


def bench_big(n: int, tmp: Path) -> None:
    t0 = time.perf_counter()
    synthetic = generate_contacts(n, seed=BENCH_SEED + 1)
    page, _ = write_set(synthetic, tmp)
    gen_s = time.perf_counter() - t0
    out = tmp / "groups.csv"
    cmd = [sys.executable, "-m", "api.cli", "dedupe", str(page), "--entity", "contact", "--out", str(out), "-q"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
    if proc.returncode != 0:
        print(f"big scan FAILED ({proc.returncode}): {proc.stderr[-2000:]}")
        return
    by_group: dict[str, list[str]] = {}
    with out.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            by_group.setdefault(row["group_id"], []).append(csvsafe.restore(row["record_id"]))
    rows = sum(len(g) for g in by_group.values())
    pw = pairwise_scores(by_group.values(), synthetic.truth)
    rate, wrong, total = hard_negative_fp_rate(by_group.values(), synthetic.truth, synthetic.hard_negatives)
    print(f"scan of {n:,} generated contacts (crm-dedup dedupe FILE.json, read -> normalize -> groups): "
          f"{wall:.1f} s wall, peak RSS {peak_gb:.2f} GB, {rows:,} grouped records "
          f"(file {page.stat().st_size / 1e6:.0f} MB, generated in {gen_s:.1f} s)")
    print(f"  {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ''}")
    _line(f"pairwise at {n:,}", pw.precision, pw.recall, pw.f1, f"  (tp {pw.tp}, fp {pw.fp}, fn {pw.fn})")
    print(f"  hard-negative false positives      {rate:.2%} ({wrong} of {total})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--companies", type=int, default=6_000)
    parser.add_argument("--big", type=int, default=318_000)
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("splink").setLevel(logging.ERROR)
    bench_generated("contact", args.contacts)
    bench_generated("company", args.companies)
    rows, truth = _febrl_rows()
    with tempfile.TemporaryDirectory() as d:
        bench_febrl_ours(rows, truth, Path(d))
    for t in (0.5, 0.9):
        bench_febrl_textbook(rows, truth, t)
    if not args.skip_big:
        with tempfile.TemporaryDirectory() as d:
            bench_big(args.big, Path(d))


if __name__ == "__main__":
    main()
