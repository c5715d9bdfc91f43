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

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from resolver.errors import ModelError
from resolver.features import rerank

# Calibration needs each class in each of its folds several times over; below this a plain
# logistic regression (probabilities calibrated by its own loss) is the safer model
CALIBRATION_MIN_PER_CLASS = 30
CALIBRATION_FOLDS = 3
SMALL_BATCH = 1000  # rows up to which prediction runs on one thread


@dataclass(frozen=True)
class Reranker:
    """A fitted classifier over the named features; `kind` says which one."""

    feature_names: tuple[str, ...]
    estimator: Any
    kind: str
    n_labels: int

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """P(duplicate) of each row of a feature matrix built with the same feature names."""
        if len(matrix) == 0:
            return np.zeros(0)
        if len(matrix) > SMALL_BATCH:
            return np.asarray(self.estimator.predict_proba(matrix)[:, 1], dtype=np.float64)
        # a check scores a handful of pairs: starting OpenMP threads for them costs more than the trees
        with threadpool_limits(1):
            return np.asarray(self.estimator.predict_proba(matrix)[:, 1], dtype=np.float64)

    def combine(self, splink_p: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """Final match probabilities: Splink's, lowered where the re-ranker doubts them."""
        return rerank(splink_p, self.predict(matrix))

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        joblib.dump(self, buffer)
        return buffer.getvalue()

    @staticmethod
    def from_bytes(blob: bytes) -> Reranker:
        loaded = joblib.load(io.BytesIO(blob))
        if not isinstance(loaded, Reranker):
            raise ModelError(f"not a re-ranker: {type(loaded).__name__}")
        return loaded


def fit_reranker(feature_names: Sequence[str], matrix: np.ndarray, labels: Sequence[int] | np.ndarray, *,
                 seed: int = 1) -> Reranker:
    """Fit on labeled pairs (1 duplicate, 0 not); both classes are needed (ModelError otherwise).

    Enough labels of each class: gradient-boosted trees, sigmoid-calibrated by cross-validation.
    Fewer: a standardised logistic regression.
    """
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
        kind = "calibrated-gradient-boosting"
    else:
        estimator = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        kind = "logistic-regression"
    estimator.fit(matrix, y)
    return Reranker(tuple(feature_names), estimator, kind, len(y))
