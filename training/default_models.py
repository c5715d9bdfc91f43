"""Build the shipped default models in `models/` from generated data, so a first run needs no training.

Splink is trained on one generated set (prior from deterministic rules, u by random sampling, m
from the set's true duplicate pairs, as a reviewer's "duplicate" labels would give it); the
two thresholds are then chosen on a second set with a different seed, from its known truth:
`review_threshold` maximises pairwise F1 of the groups, `auto_merge_threshold` is the lowest
threshold of at least `AUTO_MERGE_MIN` whose groups reach `AUTO_MERGE_PRECISION`.

    python -m training.default_models [--out models] [--contacts 20000] [--companies 6000]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import Any

import pyarrow as pa

from resolver.entities import SHARED_VALUE_COMPARISONS, spec_for
from resolver.groups import Edge, build_groups
from resolver.ingest import read_amocrm
from resolver.linkage import Model, predict_pairs, save_model, train_settings
from resolver.records import Entity
from resolver.scan import ingest
from resolver.store import Store
from training.evaluate import Scores, pairwise_scores, truth_groups
from training.synthetic import GENERATORS, SyntheticSet

logger = logging.getLogger(__name__)

AUTO_MERGE_PRECISION = 0.995
# Merging without a person below this probability would surprise anyone reading the number
AUTO_MERGE_MIN = 0.9
TRAIN_SEED, VALIDATION_SEED = 11, 23
# Thresholds are searched on this grid of match probabilities
THRESHOLD_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98,
                  0.99, 0.995, 0.999)


def _store_with(synthetic: SyntheticSet) -> Store:
    store = Store(":memory:")
    ingest(store, account_id="train", entity=synthetic.entity,
           records=read_amocrm(synthetic.entities, synthetic.entity))
    return store


def threshold_curve(model: Model, synthetic: SyntheticSet) -> dict[float, Scores]:
    """Pairwise scores of the groups at each threshold of the grid, on one generated set."""
    store = _store_with(synthetic)
    table = store.scan_input("train", spec_for(model.entity))
    pairs = predict_pairs(table, model, threshold=min(THRESHOLD_GRID)).to_pylist()
    edges = [Edge(p["left_id"], p["right_id"], p["match_probability"]) for p in pairs]
    curve = {}
    for t in THRESHOLD_GRID:
        groups = [c.members for c in build_groups(edges, threshold=t)]
        curve[t] = pairwise_scores(groups, synthetic.truth)
    store.close()
    return curve


# Every pair that agrees on these is blocked (the rules explode phones and emails), so their u
# can be counted exactly on the training set's non-matching pairs. Random sampling cannot: a
# phone only two records share is met far more often by duplicates than by chance, and those
# duplicates inflate a sampled u 20-fold (measured on 20k generated contacts).
EXACT_U_COMPARISONS = SHARED_VALUE_COMPARISONS


def count_exact_u(settings: dict[str, Any], table: pa.Table, synthetic: SyntheticSet) -> dict[str, Any]:
    """Replace u of the agreeing levels of EXACT_U_COMPARISONS by counts over non-matching pairs."""
    entity = synthetic.entity
    probe = Model(entity=entity, version="probe", settings=settings, review_threshold=0.0, auto_merge_threshold=1.0)
    pairs = predict_pairs(table, probe, threshold=0.0)
    same = [synthetic.truth[a] == synthetic.truth[b] for a, b in
            zip(pairs.column("left_id").to_pylist(), pairs.column("right_id").to_pylist(), strict=True)]
    truth_pairs = {(a, b) for g in truth_groups(synthetic.truth) for a, b in combinations(sorted(g), 2)}
    for comp in settings["comparisons"]:
        name = comp["output_column_name"]
        if name not in EXACT_U_COMPARISONS:
            continue
        column = next(lvl for lvl in comp["comparison_levels"] if lvl.get("is_null_level"))["sql_condition"]
        column = column.split('"')[1].removesuffix("_l")  # the null level names the list column
        present = {r for r, v in zip(table.column("unique_id").to_pylist(), table.column(column).to_pylist(),
                                     strict=True) if v}
        k = len(present)
        both_present_true = sum(1 for a, b in truth_pairs if a in present and b in present)
        denominator = k * (k - 1) / 2 - both_present_true
        counts = Counter(g for g, s in zip(pairs.column(f"gamma_{name}").to_pylist(), same, strict=True) if not s)
        levels = [lvl for lvl in comp["comparison_levels"] if not lvl.get("is_null_level")]
        agreeing = 0.0
        for i, lvl in enumerate(levels[:-1]):  # the last level is "else"
            gamma = len(levels) - 1 - i
            lvl["u_probability"] = (counts.get(gamma, 0) + 0.5) / denominator  # +0.5: a level never seen
            agreeing += lvl["u_probability"]
        levels[-1]["u_probability"] = 1.0 - agreeing
    return settings


def build_default_model(entity: Entity, n: int) -> Model:
    """Train on one generated set and pick thresholds on another."""
    spec = spec_for(entity)
    train = GENERATORS[entity](n, seed=TRAIN_SEED)
    positives = [(a, b) for group in truth_groups(train.truth) for a, b in combinations(sorted(group), 2)]
    with _store_with(train) as store:
        table = store.scan_input("train", spec)
        settings = train_settings(table, spec, positive_pairs=positives, seed=TRAIN_SEED)
        settings = count_exact_u(settings, table, train)
    draft = Model(entity=entity, version="default-1", settings=settings, review_threshold=0.5,
                  auto_merge_threshold=0.99, meta={"trained_on_records": n})
    curve = threshold_curve(draft, GENERATORS[entity](n, seed=VALIDATION_SEED))
    review = max(curve, key=lambda t: (round(curve[t].f1, 3), -t))  # ties: show more to a person
    safe = [t for t in sorted(curve) if t >= max(review, AUTO_MERGE_MIN) and curve[t].precision >= AUTO_MERGE_PRECISION]
    auto = safe[0] if safe else max(THRESHOLD_GRID)
    for t, s in curve.items():
        logger.info("%s t=%.3f precision=%.4f recall=%.4f f1=%.4f", entity, t, s.precision, s.recall, s.f1)
    meta = {
        "trained_on_records": n,
        "trained_on": f"generated {entity}s, n={n}, seed={TRAIN_SEED} (Splink: prior, u sampling, m from true pairs)",
        "thresholds_from": f"generated {entity}s, n={n}, seed={VALIDATION_SEED}",
        "validation": {str(t): {"precision": round(s.precision, 4), "recall": round(s.recall, 4),
                                "f1": round(s.f1, 4)} for t, s in curve.items()},
    }
    return Model(entity=entity, version="default-1", settings=settings, review_threshold=review,
                 auto_merge_threshold=auto, meta=meta)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "models")
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--companies", type=int, default=6_000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    logging.getLogger("splink").setLevel(logging.ERROR)
    sizes: list[tuple[Entity, int]] = [("contact", args.contacts), ("company", args.companies)]
    for entity, n in sizes:
        model = build_default_model(entity, n)
        save_model(model, args.out)
        logger.info("%s: review_threshold=%s auto_merge_threshold=%s -> %s", entity, model.review_threshold,
                    model.auto_merge_threshold, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
