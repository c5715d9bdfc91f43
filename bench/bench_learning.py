"""`make bench` for learning from reviewers: does a retrain generalise from some hard-negative clusters to others?

Generated contacts (20,000, seed 1001) with one more kind of hard negative than the shipped model
was built on: namesake relatives (father and son of one name on one home phone, told apart only
by the patronymic), which it merges. Reviewers reject every pair inside HALF of the hard-negative
clusters (shared school/office mailboxes, office phones, namesakes, families, relatives; the half
is every other cluster key in sorted order) and confirm a sample of true duplicate pairs.
After a retrain, the OTHER half — clusters no decision touched — is measured: the share of its
pairs put in one group (false-positive rate) and pairwise recall over all true pairs, before and
after. The issue's target: the FP rate falls by >= 50 % and recall by <= 1 point.

Prints numbers; never fails on them.

    python bench/bench_learning.py [--contacts 20000] [--positives 1000] [--seed 1001]
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resolver.candidates import Checker  # noqa: E402
from resolver.entities import spec_for  # noqa: E402
from resolver.groups import Edge, build_groups  # noqa: E402
from resolver.ingest import read_amocrm  # noqa: E402
from resolver.linkage import Model, load_model, predict_pairs  # noqa: E402
from resolver.scan import apply_reranker, ingest  # noqa: E402
from resolver.store import Store  # noqa: E402
from training.evaluate import (  # noqa: E402
    hard_negative_clusters,
    hard_negative_fp_rate,
    pairwise_scores,
    reviewer_decisions,
)
from training.registry import Registry, quiet_artifact_progress  # noqa: E402
from training.retrain import retrain  # noqa: E402
from training.synthetic import generate_contacts  # noqa: E402

BENCH_SEED = 1001
FLOOR = 0.01  # pairs below this are never grouped at any threshold reported
CHECKS = 500


def _scores(table, model: Model) -> dict[tuple[str, str], float]:
    """Every pair's final probability as a scan gives it (the model's re-ranker applied, if any)."""
    low = replace(model, review_threshold=FLOOR)
    pairs = apply_reranker(table, predict_pairs(table, low, threshold=FLOOR), low)
    keys = zip(pairs.column("left_id").to_pylist(), pairs.column("right_id").to_pylist(), strict=True)
    return dict(zip(keys, pairs.column("match_probability").to_pylist(), strict=True))


def _measure(scores, threshold, truth, held_out) -> tuple[float, int, int, float, dict[str, int]]:
    """(FP rate, false pairs, pairs, recall, false pairs per kind of cluster) at `threshold`."""
    edges = [Edge(a, b, p) for (a, b), p in scores.items()]
    groups = [c.members for c in build_groups(edges, threshold=threshold)]
    rate, wrong, total = hard_negative_fp_rate(groups, truth, held_out)
    kinds = sorted({k.split(":")[0] for k in held_out.values()})
    by_kind = {kind: hard_negative_fp_rate(groups, truth, {r: k for r, k in held_out.items()
                                                           if k.startswith(kind + ":")})[1] for kind in kinds}
    return rate, wrong, total, pairwise_scores(groups, truth).recall, by_kind


def _check_latency(store: Store, model: Model) -> tuple[float, float]:
    """p50 / p95 milliseconds of the duplicates of CHECKS stored records, as the check path scores them."""
    checker = Checker(store, {"contact": model})
    ids = store.scan_input("bench", spec_for("contact")).column("unique_id").to_pylist()
    checker.duplicates_of("bench", "contact", ids[0], model=model)  # loads the index
    times = []
    for record_id in random.Random(7).sample(ids, CHECKS):
        t = time.perf_counter()
        checker.duplicates_of("bench", "contact", record_id, model=model)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--positives", type=int, default=1000, help="true pairs confirmed by reviewers")
    parser.add_argument("--seed", type=int, default=BENCH_SEED, help="of the generated contacts")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for noisy in ("splink", "mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    t0 = time.perf_counter()
    synthetic = generate_contacts(args.contacts, seed=args.seed, relatives=True)
    keys = sorted(hard_negative_clusters(synthetic.hard_negatives))
    taught, unseen = keys[0::2], set(keys[1::2])
    held_out = {r: k for r, k in synthetic.hard_negatives.items() if k in unseen}
    decisions = reviewer_decisions(synthetic.truth, synthetic.hard_negatives, clusters=taught,
                                   positives=args.positives, rng=random.Random(args.seed))
    rejected = [d for d in decisions if d.decision == "not_duplicate"]
    confirmed = [d for d in decisions if d.decision == "duplicate"]

    quiet_artifact_progress()
    default = load_model("contact")
    with tempfile.TemporaryDirectory() as tmp, Store(":memory:") as store:
        ingest(store, account_id="bench", entity="contact", records=read_amocrm(synthetic.entities, "contact"))
        store.add_decisions("bench", rejected + confirmed)
        table = store.scan_input("bench", spec_for("contact"))
        before = _scores(table, default)
        t1 = time.perf_counter()
        result = retrain(store, "bench", "contact", tracking_uri=f"sqlite:///{tmp}/mlflow.db", default=default)
        train_s = time.perf_counter() - t1
        registry = Registry(f"sqlite:///{tmp}/mlflow.db")
        info = next(v for v in registry.versions("bench", "contact") if v.version == result.version)
        loaded = registry.load("bench", "contact", info)
        splink_only = _scores(table, replace(loaded.model, reranker=None))
        after = _scores(table, loaded.model)
        latency = {label: _check_latency(store, model) for label, model in
                   (("shipped default", default), ("champion + re-ranker", loaded.model))}

    print(f"learning from reviewers: generated contacts n={args.contacts} seed={args.seed}; "
          f"{len(keys)} hard-negative clusters, decisions on {len(taught)} ({len(rejected)} not_duplicate pairs) "
          f"+ {len(confirmed)} duplicate pairs; measured on the other {len(unseen)} clusters")
    print(f"  retrain: {result.n_labels} labels ({result.evaluation}), version {result.version}, "
          f"{'champion' if result.promoted else 'not champion'} ({result.reason}); {train_s:.1f} s")
    thresholds = (loaded.model.review_threshold, loaded.model.auto_merge_threshold)
    for t in thresholds:
        rows = [("shipped default", before), ("retrained Splink only", splink_only),
                ("retrained + re-ranker", after)]  # the last is what the service then serves
        base_rate, _, _, base_recall, _ = _measure(before, t, synthetic.truth, held_out)
        for label, scores in rows:
            rate, wrong, total, recall, by_kind = _measure(scores, t, synthetic.truth, held_out)
            change = f"  FP {'-' if rate <= base_rate else '+'}{abs(1 - rate / base_rate) * 100:.0f} %" \
                if base_rate else ""
            print(f"  t={t:<4} {label:24s} unseen hard-negative FP {rate * 100:6.2f} % ({wrong}/{total})  "
                  f"pairwise recall {recall:.4f} ({(recall - base_recall) * 100:+.2f} pt){change}")
            print(f"  {'':6} {'':24} false pairs by kind: " + ", ".join(f"{k} {n}" for k, n in by_kind.items()))
    for label, (p50, p95) in latency.items():
        print(f"  /duplicates in process, {CHECKS} stored records, {label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    print(f"  total {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
