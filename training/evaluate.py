"""Accuracy against known truth: pairwise and B-cubed P/R/F1, hard-negative FP rate, simulated reviewers."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from resolver.records import Decision, Entity


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 with the counts behind them."""

    precision: float
    recall: float
    f1: float
    tp: int = 0
    fp: int = 0
    fn: int = 0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(groups: Iterable[Sequence[str]]) -> set[tuple[str, str]]:
    return {(a, b) if a < b else (b, a) for g in groups for a, b in combinations(g, 2)}


def truth_groups(truth: Mapping[str, str]) -> list[list[str]]:
    """record_id -> entity key, turned into the lists of records of each entity."""
    by_key: dict[str, list[str]] = defaultdict(list)
    for record_id, key in truth.items():
        by_key[key].append(record_id)
    return list(by_key.values())


def hard_negative_clusters(hard_negatives: Mapping[str, str]) -> dict[str, list[str]]:
    """record_id -> cluster key, turned into each cluster's records (clusters in first-seen order)."""
    clusters: dict[str, list[str]] = {}
    for record_id, key in hard_negatives.items():
        clusters.setdefault(key, []).append(record_id)
    return clusters


def reviewer_decisions(truth: Mapping[str, str], hard_negatives: Mapping[str, str], *, entity: Entity = "contact",
                       clusters: Iterable[str] | None = None, positives: int = 0,
                       rng: random.Random | None = None) -> list[Decision]:
    """The decisions a reviewer would make on generated data, for tests and benchmarks of learning.

    `not_duplicate` on every pair of different entities inside the hard-negative clusters named by
    `clusters` (all of them, in first-seen order, when None); then `duplicate` on `positives` true
    pairs: the first ones, or a sample of the sorted pairs drawn with `rng`.
    """
    by_key = hard_negative_clusters(hard_negatives)
    decisions = [Decision.of(entity, a, b, "not_duplicate") for key in (by_key if clusters is None else clusters)
                 for a, b in combinations(sorted(by_key[key]), 2) if truth[a] != truth[b]]
    true_pairs = [p for g in truth_groups(truth) for p in combinations(sorted(g), 2)]
    chosen = rng.sample(sorted(true_pairs), min(positives, len(true_pairs))) if rng else true_pairs[:positives]
    return decisions + [Decision.of(entity, a, b, "duplicate") for a, b in chosen]


def pairwise_scores(predicted: Iterable[Sequence[str]], truth: Mapping[str, str]) -> Scores:
    """Pairwise P/R/F1: every pair inside a predicted group against every pair inside a true one."""
    pred = _pairs(predicted)
    true = _pairs(truth_groups(truth))
    tp = len(pred & true)
    fp, fn = len(pred) - tp, len(true) - tp
    p = tp / len(pred) if pred else 1.0
    r = tp / len(true) if true else 1.0
    return Scores(p, r, _f1(p, r), tp, fp, fn)


def bcubed_scores(predicted: Iterable[Sequence[str]], truth: Mapping[str, str]) -> Scores:
    """B-cubed P/R/F1 over all records of `truth` (records in no predicted group are singletons)."""
    pred_of: dict[str, frozenset[str]] = {}
    for g in predicted:
        members = frozenset(g)
        for m in members:
            pred_of[m] = members
    true_of = {m: frozenset(g) for g in truth_groups(truth) for m in g}
    p_sum = r_sum = 0.0
    for record_id, true_set in true_of.items():
        pred_set = pred_of.get(record_id, frozenset({record_id}))
        both = len(pred_set & true_set)
        p_sum += both / len(pred_set)
        r_sum += both / len(true_set)
    n = len(true_of) or 1
    p, r = p_sum / n, r_sum / n
    return Scores(p, r, _f1(p, r))


def hard_negative_fp_rate(predicted: Iterable[Sequence[str]], truth: Mapping[str, str],
                          hard_negatives: Mapping[str, str]) -> tuple[float, int, int]:
    """Share of hard-negative pairs (different entities planted to share a value) put in one group.

    Returns (rate, false pairs, all hard-negative pairs).
    """
    clusters: dict[str, list[str]] = defaultdict(list)
    for record_id, key in hard_negatives.items():
        clusters[key].append(record_id)
    negatives = {p for p in _pairs(clusters.values()) if truth.get(p[0]) != truth.get(p[1])}
    if not negatives:
        return 0.0, 0, 0
    wrong = len(negatives & _pairs(predicted))
    return wrong / len(negatives), wrong, len(negatives)


# -- held-out labels (reviewer decisions) ------------------------------------------------------

# The stepped series the MLflow UI draws as curves: step i is LABEL_THRESHOLDS[i]
LABEL_THRESHOLDS: tuple[float, ...] = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99)


def label_scores(labels: Sequence[int], probabilities: Sequence[float], threshold: float) -> Scores:
    """P/R/F1 of "p >= threshold means duplicate" against labels (1 duplicate, 0 not)."""
    tp = sum(1 for y, p in zip(labels, probabilities, strict=True) if y == 1 and p >= threshold)
    fp = sum(1 for y, p in zip(labels, probabilities, strict=True) if y == 0 and p >= threshold)
    fn = sum(1 for y, p in zip(labels, probabilities, strict=True) if y == 1 and p < threshold)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return Scores(precision, recall, _f1(precision, recall), tp, fp, fn)


def label_curve(labels: Sequence[int], probabilities: Sequence[float],
                thresholds: Sequence[float] = LABEL_THRESHOLDS) -> dict[float, Scores]:
    """`label_scores` at each threshold."""
    return {t: label_scores(labels, probabilities, t) for t in thresholds}


def pr_auc(labels: Sequence[int], probabilities: Sequence[float]) -> float:
    """Area under the precision-recall curve as average precision (step-wise, no interpolation).

    Ties are taken together, so a model that gives every pair one score earns the base rate.
    0.0 when there is no positive label.
    """
    positives = sum(labels)
    if not positives:
        return 0.0
    by_score: dict[float, list[int]] = defaultdict(list)
    for y, p in zip(labels, probabilities, strict=True):
        by_score[p].append(y)
    tp = fp = 0
    area = 0.0
    for p in sorted(by_score, reverse=True):
        ys = by_score[p]
        new_tp = sum(ys)
        tp, fp = tp + new_tp, fp + len(ys) - new_tp
        area += (new_tp / positives) * (tp / (tp + fp))
    return area
