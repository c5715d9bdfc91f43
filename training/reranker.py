"""The scikit-learn re-ranker: learns "not a duplicate" from reviewers, which Splink cannot (splink5-notes 4.1).

Splink 5 learns m from positive labels only, so a reviewer's "not a duplicate" changes nothing in
its weights. The re-ranker is a classifier on `resolver.features` (Splink's levels and weights
plus shared-value signals) fitted on both classes of labels.

How it combines with Splink is `resolver.features.rerank`: it may only lower a pair's probability,
never raise it. It is fitted on the pairs reviewers were shown, which are mostly the hard cases;
on the bulk of clear pairs it never saw, it cannot invent a match, and Splink's own m (trained on
the "duplicate" labels) is what lifts true pairs. The scan and the check apply it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from resolver.errors import ModelError
from resolver.features import rerank

# Calibration needs each class in each of its folds several times over; below this a plain
# logistic regression (probabilities calibrated by its own loss) is the safer model
CALIBRATION_MIN_PER_CLASS = 30
CALIBRATION_FOLDS = 3

# The stored form (`reranker.json`): fitted numbers only, never a pickle, so loading runs no code
FORMAT = "crm-dedup-reranker"
FORMAT_VERSION = 1
LOGISTIC = "logistic-regression"
BOOSTED = "calibrated-gradient-boosting"
KINDS = (LOGISTIC, BOOSTED)  # the allow-list: a file naming any other kind is refused
# Bounds a loaded file must keep: far above what fit_reranker makes (200 trees of at most 29 nodes)
MAX_FEATURES = 1000
MAX_TREES = 5000
MAX_NODES = 10_000  # per tree
MAX_DEPTH = 64  # steps from a root to a leaf; 15 leaves need at most 14
CHUNK_CELLS = 1 << 18  # rows x trees walked at once: bounds the memory of a big scan's prediction


@dataclass(frozen=True, eq=False)
class _Linear:
    """A standardised logistic regression: P = expit(((x - mean) / scale) . coef + intercept)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_features, 1)
    intercept: np.ndarray  # (1,)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        # the operations and their order are scikit-learn's (StandardScaler, then LogisticRegression):
        # the same bits as predict_proba
        scaled = matrix - self.mean
        scaled /= self.scale
        scores = (scaled @ self.coef + self.intercept).reshape(-1)
        return np.asarray(expit(scores), dtype=np.float64)

    def document(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef[:, 0].tolist(),
                "intercept": float(self.intercept[0])}


@dataclass(frozen=True, eq=False)
class _Trees:
    """Gradient-boosted trees with a sigmoid calibration: P = expit(-(a * raw + b)), raw = baseline + sum of leaves.

    The nodes of every tree sit in one set of arrays; a leaf points at itself, so walking all trees
    a fixed number of steps lands every row on its leaf.
    """

    baseline: float
    roots: np.ndarray  # first node of each tree
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray
    depth: int  # the most steps from a root to a leaf
    a: float
    b: float

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        out = np.empty(len(matrix))
        n_trees = len(self.roots)
        step = max(1, CHUNK_CELLS // n_trees)
        for start in range(0, len(matrix), step):
            rows = matrix[start:start + step]
            node = np.broadcast_to(self.roots, (len(rows), n_trees)).copy()
            at = np.arange(len(rows))[:, None]
            for _ in range(self.depth):
                if self.is_leaf[node].all():
                    break
                x = rows[at, self.feature[node]]
                # as scikit-learn's predictor: a missing value goes where the split sent missing ones
                go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
                node = np.where(go_left, self.left[node], self.right[node])
            leaves = self.value[node]
            total = np.full(len(rows), self.baseline)
            for t in range(n_trees):  # tree by tree, in boosting order: the same sums as scikit-learn
                total += leaves[:, t]
            out[start:start + step] = total
        return out

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        raw = self.raw(matrix)
        return np.asarray(expit(-(self.a * raw + self.b)), dtype=np.float64)

    def document(self) -> dict[str, Any]:
        ends = [*self.roots.tolist()[1:], len(self.value)]
        trees = []
        for root, end in zip(self.roots.tolist(), ends, strict=True):
            span = slice(root, end)
            leaf = self.is_leaf[span]
            trees.append({
                "leaf": leaf.tolist(),
                "feature": np.where(leaf, 0, self.feature[span]).tolist(),
                "threshold": np.where(leaf, 0.0, self.threshold[span]).tolist(),
                "missing_left": (self.missing_left[span] & ~leaf).tolist(),
                "left": np.where(leaf, 0, self.left[span] - root).tolist(),
                "right": np.where(leaf, 0, self.right[span] - root).tolist(),
                "value": self.value[span].tolist(),
            })
        return {"baseline": self.baseline, "sigmoid_a": self.a, "sigmoid_b": self.b, "trees": trees}


@dataclass(frozen=True)
class Reranker:
    """A fitted classifier over the named features; `kind` says which one.

    It holds the fitted numbers only and predicts with numpy, exactly as scikit-learn would
    (`from_estimator` checks that), so the stored form is plain JSON.
    """

    feature_names: tuple[str, ...]
    kind: str
    n_labels: int
    params: _Linear | _Trees

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """P(duplicate) of each row of a feature matrix built with the same feature names."""
        matrix = np.asarray(matrix, dtype=np.float64)
        if len(matrix) == 0:
            return np.zeros(0)
        if matrix.ndim != 2 or matrix.shape[1] != len(self.feature_names):
            raise ModelError(f"the re-ranker takes {len(self.feature_names)} features, got shape {matrix.shape}")
        return self.params.predict(matrix)

    def combine(self, splink_p: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """Final match probabilities: Splink's, lowered where the re-ranker doubts them."""
        return rerank(splink_p, self.predict(matrix))

    # -- the stored form ------------------------------------------------------------------------

    def to_document(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": self.kind,
                "feature_names": list(self.feature_names), "n_labels": self.n_labels,
                "params": self.params.document()}

    def to_bytes(self) -> bytes:
        """UTF-8 JSON; floats are written as their shortest repr, which reads back to the same bits."""
        return json.dumps(self.to_document(), separators=(",", ":")).encode("utf-8")

    @staticmethod
    def from_bytes(blob: bytes) -> Reranker:
        """Parse `to_bytes` output; ModelError for anything else (never unpickled, never executed)."""
        try:
            document = json.loads(blob.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise ModelError(f"a re-ranker file must be UTF-8 JSON ({type(exc).__name__})") from exc
        return Reranker.from_document(document)

    @staticmethod
    def from_document(document: Any) -> Reranker:
        """A re-ranker from its parsed JSON, every field checked; ModelError naming the first bad one."""
        doc = _fields(document, "re-ranker", {"format", "format_version", "kind", "feature_names", "n_labels",
                                              "params"})
        if doc["format"] != FORMAT or doc["format_version"] != FORMAT_VERSION:
            raise ModelError(f"re-ranker: format {doc['format']!r} version {doc['format_version']!r} "
                             f"is not {FORMAT!r} version {FORMAT_VERSION}")
        kind = doc["kind"]
        if kind not in KINDS:
            raise ModelError(f"re-ranker: kind {kind!r} is not one of {', '.join(KINDS)}")
        names = doc["feature_names"]
        if (not isinstance(names, list) or not 0 < len(names) <= MAX_FEATURES
                or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names)):
            raise ModelError(f"re-ranker: feature_names must be 1 to {MAX_FEATURES} distinct strings")
        n_labels = doc["n_labels"]
        if not isinstance(n_labels, int) or isinstance(n_labels, bool) or n_labels < 0:
            raise ModelError("re-ranker: n_labels must be a non-negative integer")
        params = (_linear_from(doc["params"], len(names)) if kind == LOGISTIC
                  else _trees_from(doc["params"], len(names)))
        return Reranker(tuple(names), kind, n_labels, params)

    @staticmethod
    def from_estimator(feature_names: Sequence[str], estimator: Any, n_labels: int,
                       check: np.ndarray) -> Reranker:
        """The fitted numbers of a scikit-learn estimator `fit_estimator` made.

        The rows of `check` are scored both ways and must agree to the last bit: a later
        scikit-learn that changed how these models predict fails here, at training, not in service.
        """
        params: _Linear | _Trees
        if isinstance(estimator, Pipeline):
            params, kind = _linear_of(estimator), LOGISTIC
        elif isinstance(estimator, CalibratedClassifierCV):
            params, kind = _trees_of(estimator), BOOSTED
        else:
            raise ModelError(f"no stored form for a {type(estimator).__name__}")
        reranker = Reranker(tuple(feature_names), kind, n_labels, params)
        if len(check):
            expected = np.asarray(estimator.predict_proba(np.asarray(check, dtype=np.float64))[:, 1])
            got = reranker.predict(check)
            if not np.array_equal(expected, got):
                raise ModelError(f"the stored {kind} would predict differently from scikit-learn "
                                 f"(largest difference {float(np.max(np.abs(expected - got))):.3g})")
        return reranker


def _linear_of(pipeline: Pipeline) -> _Linear:
    scaler, logistic = pipeline.named_steps["standardscaler"], pipeline.named_steps["logisticregression"]
    if logistic.coef_.shape[0] != 1:
        raise ModelError("the logistic re-ranker must be binary")
    return _Linear(mean=np.array(scaler.mean_, dtype=np.float64), scale=np.array(scaler.scale_, dtype=np.float64),
                   coef=np.array(logistic.coef_.T, dtype=np.float64),
                   intercept=np.array(logistic.intercept_, dtype=np.float64))


def _trees_of(calibrated: CalibratedClassifierCV) -> _Trees:
    # scikit-learn's fitted attributes (private ones for the trees): read once here, at training
    (fitted,) = calibrated.calibrated_classifiers_  # ensemble=False: one model, one calibrator
    (calibrator,) = fitted.calibrators
    if type(calibrator).__name__ != "_SigmoidCalibration":
        raise ModelError(f"no stored form for a {type(calibrator).__name__} calibration")
    trees = fitted.estimator
    tables = []
    for iteration in trees._predictors:
        (predictor,) = iteration  # binary: one tree per iteration
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            raise ModelError("no stored form for trees with categorical splits")
        tables.append(nodes)
    leaf_of = [t["is_leaf"].astype(bool) for t in tables]
    return _pack_trees(
        baseline=float(np.asarray(trees._baseline_prediction).reshape(-1)[0]),
        leaf=leaf_of, feature=[t["feature_idx"] for t in tables], threshold=[t["num_threshold"] for t in tables],
        missing_left=[t["missing_go_to_left"].astype(bool) for t in tables], left=[t["left"] for t in tables],
        right=[t["right"] for t in tables], value=[t["value"] for t in tables],
        a=float(calibrator.a_), b=float(calibrator.b_))


def _pack_trees(*, baseline: float, leaf: list[np.ndarray], feature: list[np.ndarray], threshold: list[np.ndarray],
                missing_left: list[np.ndarray], left: list[np.ndarray], right: list[np.ndarray],
                value: list[np.ndarray], a: float, b: float) -> _Trees:
    """One node table from per-tree ones (child indices local to their tree)."""
    sizes = [len(v) for v in value]
    roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    offset = np.repeat(roots, sizes)
    is_leaf = np.concatenate(leaf)
    own = np.arange(len(is_leaf), dtype=np.intp)
    depth = max(_depth(lf, lt, rt) for lf, lt, rt in zip(leaf, left, right, strict=True))
    return _Trees(
        baseline=baseline, roots=roots,
        feature=np.where(is_leaf, 0, np.concatenate(feature)).astype(np.intp),
        threshold=np.concatenate(threshold).astype(np.float64),
        missing_left=np.concatenate(missing_left).astype(bool),
        left=np.where(is_leaf, own, np.concatenate(left).astype(np.intp) + offset),
        right=np.where(is_leaf, own, np.concatenate(right).astype(np.intp) + offset),
        is_leaf=is_leaf, value=np.concatenate(value).astype(np.float64), depth=depth, a=a, b=b)


def _depth(leaf: np.ndarray, left: np.ndarray, right: np.ndarray) -> int:
    # children come after their parent (checked on load), so one pass from the end finds every depth
    below = np.zeros(len(leaf), dtype=np.intp)
    for i in range(len(leaf) - 1, -1, -1):
        if not leaf[i]:
            below[i] = 1 + max(below[int(left[i])], below[int(right[i])])
    return int(below[0]) if len(below) else 0


# -- checking a parsed file -------------------------------------------------------------------------

def _fields(value: Any, where: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != keys:
        got = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise ModelError(f"{where}: expected exactly the fields {sorted(keys)}, got {got}")
    return value


def _real(value: Any, where: str, *, finite: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelError(f"{where} must be a number")
    number = float(value)
    if math.isnan(number) or (finite and math.isinf(number)):
        raise ModelError(f"{where} must be a finite number")
    return number


def _numbers(value: Any, where: str, length: int | None = None, *, finite: bool = True) -> np.ndarray:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise ModelError(f"{where} must be a list of {length if length is not None else 'some'} numbers")
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
        raise ModelError(f"{where} must hold numbers only")
    out = np.array(value, dtype=np.float64)
    if np.isnan(out).any() or (finite and not np.isfinite(out).all()):
        raise ModelError(f"{where} must hold {'finite ' if finite else ''}numbers, not NaN")
    return out


def _flags(value: Any, where: str, length: int) -> np.ndarray:
    if not isinstance(value, list) or len(value) != length or not all(isinstance(v, bool) for v in value):
        raise ModelError(f"{where} must be a list of {length} true/false values")
    return np.array(value, dtype=bool)


def _indices(value: Any, where: str, length: int) -> np.ndarray:
    if (not isinstance(value, list) or len(value) != length
            or any(isinstance(v, bool) or not isinstance(v, int) for v in value)):
        raise ModelError(f"{where} must be a list of {length} integers")
    return np.array(value, dtype=np.int64)


def _linear_from(value: Any, n_features: int) -> _Linear:
    p = _fields(value, "re-ranker params", {"mean", "scale", "coef", "intercept"})
    scale = _numbers(p["scale"], "params.scale", n_features)
    if (scale == 0).any():
        raise ModelError("params.scale must not hold zeros")
    return _Linear(mean=_numbers(p["mean"], "params.mean", n_features), scale=scale,
                   coef=_numbers(p["coef"], "params.coef", n_features).reshape(-1, 1),
                   intercept=np.array([_real(p["intercept"], "params.intercept")]))


def _trees_from(value: Any, n_features: int) -> _Trees:
    p = _fields(value, "re-ranker params", {"baseline", "sigmoid_a", "sigmoid_b", "trees"})
    trees = p["trees"]
    if not isinstance(trees, list) or not 0 < len(trees) <= MAX_TREES:
        raise ModelError(f"params.trees must be a list of 1 to {MAX_TREES} trees")
    columns: dict[str, list[np.ndarray]] = {k: [] for k in
                                            ("leaf", "feature", "threshold", "missing_left", "left", "right", "value")}
    for t, tree in enumerate(trees):
        where = f"params.trees[{t}]"
        node = _fields(tree, where, set(columns))
        leaf = node["leaf"]
        if not isinstance(leaf, list) or not 0 < len(leaf) <= MAX_NODES:
            raise ModelError(f"{where}.leaf must list 1 to {MAX_NODES} nodes")
        n = len(leaf)
        is_leaf = _flags(leaf, f"{where}.leaf", n)
        feature = _indices(node["feature"], f"{where}.feature", n)
        left = _indices(node["left"], f"{where}.left", n)
        right = _indices(node["right"], f"{where}.right", n)
        inner = ~is_leaf
        if ((feature[inner] < 0) | (feature[inner] >= n_features)).any():
            raise ModelError(f"{where}.feature: a split names a feature outside 0..{n_features - 1}")
        # a child after its parent and inside the tree: no cycle, every walk ends on a leaf
        own = np.arange(n)
        if any(((child[inner] <= own[inner]) | (child[inner] >= n)).any() for child in (left, right)):
            raise ModelError(f"{where}: a split's children must come after it, inside the tree")
        columns["leaf"].append(is_leaf)
        columns["feature"].append(feature)
        # a threshold may be infinite: scikit-learn splits "missing or not" at +inf
        columns["threshold"].append(_numbers(node["threshold"], f"{where}.threshold", n, finite=False))
        columns["missing_left"].append(_flags(node["missing_left"], f"{where}.missing_left", n))
        columns["left"].append(left)
        columns["right"].append(right)
        columns["value"].append(_numbers(node["value"], f"{where}.value", n))
    packed = _pack_trees(baseline=_real(p["baseline"], "params.baseline"), **columns,
                         a=_real(p["sigmoid_a"], "params.sigmoid_a"), b=_real(p["sigmoid_b"], "params.sigmoid_b"))
    if packed.depth > MAX_DEPTH:  # each step walks every row through every tree: keep the walk short
        raise ModelError(f"params.trees: a tree {packed.depth} splits deep, more than {MAX_DEPTH}")
    return packed


def fit_estimator(matrix: np.ndarray, labels: Sequence[int] | np.ndarray, *, seed: int = 1) -> tuple[Any, str]:
    """The scikit-learn estimator fitted on labeled pairs, and its kind (see fit_reranker)."""
    y = np.asarray(labels, dtype=int)
    counts = np.bincount(y, minlength=2)
    if counts.min() == 0:
        raise ModelError(f"a re-ranker needs both duplicate and not-duplicate labels, got {counts[1]} and {counts[0]}")
    estimator: Any
    if counts.min() >= CALIBRATION_MIN_PER_CLASS:
        trees = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, max_leaf_nodes=15,
                                               l2_regularization=1.0, random_state=seed)
        # ensemble=False: one model on all labels, calibrated on out-of-fold predictions; a third of
        # the trees to walk per check compared with one calibrated model per fold
        estimator = CalibratedClassifierCV(trees, method="sigmoid", cv=CALIBRATION_FOLDS, ensemble=False)
        kind = BOOSTED
    else:
        estimator = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        kind = LOGISTIC
    estimator.fit(matrix, y)
    return estimator, kind


def fit_reranker(feature_names: Sequence[str], matrix: np.ndarray, labels: Sequence[int] | np.ndarray, *,
                 seed: int = 1) -> Reranker:
    """Fit on labeled pairs (1 duplicate, 0 not); both classes are needed (ModelError otherwise).

    Enough labels of each class: gradient-boosted trees, sigmoid-calibrated by cross-validation.
    Fewer: a standardised logistic regression. Either is kept as its fitted numbers (Reranker).
    """
    estimator, _ = fit_estimator(matrix, labels, seed=seed)
    return Reranker.from_estimator(feature_names, estimator, len(np.asarray(labels)), check=matrix)
