"""`make bench`: matching quality on held-out amoCRM-shaped data (training/heldout.py, issue 14 item 6).

The shipped default model (before any feedback) beside Splink configured as its tutorial shows on
the same normalized fields, on the held-out set (REPORTED_SEED, never tuned on) and on the usual
bench set (training/synthetic, bench_core's seed). Prints numbers; never fails on them.

    python bench/bench_heldout.py [--contacts 20000] [--companies 5000] [--seed 90417] [--skip-bench-set]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pyarrow as pa  # noqa: E402
from benchkit import run_reporting  # noqa: E402

from resolver.entities import spec_for  # noqa: E402
from resolver.groups import Edge, build_groups  # noqa: E402
from resolver.ingest import read_amocrm  # noqa: E402
from resolver.linkage import load_model  # noqa: E402
from resolver.records import PLURAL, Entity  # noqa: E402
from resolver.scan import ingest, scan  # noqa: E402
from resolver.store import Store  # noqa: E402
from training.evaluate import hard_negative_fp_rate, pairwise_scores  # noqa: E402
from training.heldout import REPORTED_SEED, generate_heldout_companies, generate_heldout_contacts  # noqa: E402
from training.synthetic import SyntheticSet, generate_companies, generate_contacts  # noqa: E402

BENCH_SEED = 1001  # bench_core's seed for the usual set
TUTORIAL_THRESHOLD = 0.9


def _groups(store: Store, account: str, entity: str) -> list[list[str]]:
    by_group: dict[str, list[str]] = {}
    for row in store.groups_export(account, entity):
        by_group.setdefault(row["group_id"], []).append(row["record_id"])
    return list(by_group.values())


def tutorial_groups(table: pa.Table, entity: Entity) -> list[list[str]]:
    """Splink as its tutorial shows (splink5-notes 1.1) on our normalized columns, clustered at 0.9."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    if entity == "contact":
        cols = ["unique_id", "name_norm", "name_key", "phones", "phone", "email"]
        comparisons = [cl.NameComparison("name_norm").configure(term_frequency_adjustments=True),
                       cl.ArrayIntersectAtSizes("phones", [1]),
                       cl.ExactMatch("email").configure(term_frequency_adjustments=True)]
        blocking = [block_on("phones", arrays_to_explode=["phones"]), block_on("email"), block_on("name_key")]
        deterministic = [block_on("phone", "name_norm"), block_on("email", "name_norm")]
        em = [block_on("name_norm"), block_on("phone")]
    else:
        cols = ["unique_id", "name_core", "name_key", "inn", "domain", "phones", "phone", "email_domain"]
        comparisons = [cl.NameComparison("name_core").configure(term_frequency_adjustments=True),
                       cl.ExactMatch("inn"), cl.ExactMatch("domain").configure(term_frequency_adjustments=True),
                       cl.ArrayIntersectAtSizes("phones", [1]), cl.ExactMatch("email_domain")]
        blocking = [block_on("inn"), block_on("domain"), block_on("phones", arrays_to_explode=["phones"]),
                    block_on("name_key")]
        deterministic = [block_on("inn"), block_on("domain", "name_core")]
        em = [block_on("name_core"), block_on("phone")]
    settings = SettingsCreator(link_type="dedupe_only", comparisons=comparisons,
                               blocking_rules_to_generate_predictions=blocking)
    linker = Linker(DuckDBAPI().register(table.select(cols)), settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    for rule in em:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    pairs = linker.inference.predict(threshold_match_probability=TUTORIAL_THRESHOLD).as_record_list()
    edges = [Edge(str(p["unique_id_l"]), str(p["unique_id_r"]), float(p["match_probability"])) for p in pairs]
    return [list(c.members) for c in build_groups(edges, threshold=TUTORIAL_THRESHOLD)]


def report(label: str, groups: Sequence[Sequence[str]], data: SyntheticSet, seconds: float) -> dict[str, float]:
    pw = pairwise_scores(groups, data.truth)
    rate, wrong, total = hard_negative_fp_rate(groups, data.truth, data.hard_negatives)
    kinds = sorted({v.split(":", 1)[0] for v in data.hard_negatives.values()})
    per_kind = []
    for kind in kinds:
        sub = {k: v for k, v in data.hard_negatives.items() if v.startswith(kind + ":")}
        r, w, t = hard_negative_fp_rate(groups, data.truth, sub)
        per_kind.append(f"{kind} {r:.2%} ({w}/{t})")
    print(f"  {label:22s} P {pw.precision:.4f}  R {pw.recall:.4f}  F1 {pw.f1:.4f}  hard-negative FP {rate:.2%} "
          f"({wrong}/{total})  {seconds:.1f} s")
    print(f"  {'':22s} by kind: {', '.join(per_kind)}")
    return {"precision": pw.precision, "recall": pw.recall, "f1": pw.f1, "hn": rate}


def evaluate(entity: Entity, data: SyntheticSet, *, tutorial: bool = True) -> dict[str, dict[str, float]]:
    """The shipped model's scan (and Splink's tutorial configuration) on one generated set."""
    out = {}
    with Store(":memory:") as store:
        t0 = time.perf_counter()
        ingest(store, account_id="bench", entity=entity, records=read_amocrm(data.entities, entity))
        scan(store, account_id="bench", model=load_model(entity))
        out["crm-dedup"] = report("crm-dedup (default)", _groups(store, "bench", entity), data,
                                  time.perf_counter() - t0)
        if tutorial:
            t0 = time.perf_counter()
            table = store.scan_input("bench", spec_for(entity), ())
            out["tutorial"] = report(f"Splink tutorial p>={TUTORIAL_THRESHOLD}", tutorial_groups(table, entity), data,
                                     time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--companies", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=REPORTED_SEED, help="held-out seed (tune on TUNING_SEEDS only)")
    parser.add_argument("--skip-bench-set", action="store_true", help="only the held-out set")
    parser.add_argument("--no-tutorial", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("splink").setLevel(logging.ERROR)
    sets: list[tuple[str, Entity, Callable[[], SyntheticSet]]] = [
        (f"held-out contacts n={args.contacts} seed={args.seed}", "contact",
         lambda: generate_heldout_contacts(args.contacts, seed=args.seed)),
        (f"held-out companies n={args.companies} seed={args.seed}", "company",
         lambda: generate_heldout_companies(args.companies, seed=args.seed)),
    ]
    if not args.skip_bench_set:
        sets += [(f"bench set contacts n={args.contacts} seed={BENCH_SEED}", "contact",
                  lambda: generate_contacts(args.contacts, seed=BENCH_SEED)),
                 (f"bench set companies n={args.companies} seed={BENCH_SEED}", "company",
                  lambda: generate_companies(args.companies, seed=BENCH_SEED))]
    for title, entity, make in sets:
        print(f"{title} ({PLURAL[entity]}, pairwise; hard negatives = planted look-alikes grouped)")
        evaluate(entity, make(), tutorial=not args.no_tutorial)


if __name__ == "__main__":
    run_reporting(main, __file__)
