"""The re-ranker: fits on both classes, vetoes (never raises) Splink's probability, survives a round trip."""

import numpy as np
import pytest

from resolver.errors import ModelError
from training.reranker import Reranker, fit_reranker

NAMES = ("mw_name", "log2_names_sharing_emails")


def _labels(n_per_class: int):
    rng = np.random.default_rng(3)
    # duplicates: name agrees, the email is their own; not: names differ, a mailbox many share
    dup = np.column_stack([rng.normal(8, 1, n_per_class), np.zeros(n_per_class)])
    not_dup = np.column_stack([rng.normal(-3, 1, n_per_class), rng.uniform(2, 4, n_per_class)])
    return np.vstack([dup, not_dup]), [1] * n_per_class + [0] * n_per_class


@pytest.mark.parametrize(("n_per_class", "kind"), [
    (10, "logistic-regression"),  # few labels: no calibration folds
    (60, "calibrated-gradient-boosting"),
], ids=["few-labels", "enough-labels"])
def test_fit_picks_the_model_by_label_count_and_separates(n_per_class, kind):
    matrix, labels = _labels(n_per_class)
    reranker = fit_reranker(NAMES, matrix, labels)
    assert (reranker.kind, reranker.n_labels) == (kind, 2 * n_per_class)
    p = reranker.predict(np.array([[8.0, 0.0], [-3.0, 3.0]]))
    assert p[0] > 0.8 and p[1] < 0.2


def test_combine_only_lowers_splink():
    reranker = fit_reranker(NAMES, *_labels(10))
    rows = np.array([[8.0, 0.0], [-3.0, 3.0]])
    splink = np.array([0.3, 0.99])
    final = reranker.combine(splink, rows)
    assert final[0] == 0.3  # the re-ranker's confidence never lifts a weak Splink score
    assert final[1] < 0.2  # the veto: a shared mailbox between different names


@pytest.mark.parametrize("labels", [[1, 1, 1], [0, 0]], ids=["only-duplicates", "only-not-duplicates"])
def test_one_class_is_refused(labels):
    with pytest.raises(ModelError, match="both duplicate and not-duplicate"):
        fit_reranker(NAMES, np.zeros((len(labels), 2)), labels)


def test_bytes_round_trip_predicts_the_same():
    matrix, labels = _labels(10)
    reranker = fit_reranker(NAMES, matrix, labels)
    again = Reranker.from_bytes(reranker.to_bytes())
    assert again.feature_names == NAMES
    assert np.array_equal(again.predict(matrix), reranker.predict(matrix))
