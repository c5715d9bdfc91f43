"""Re-ranker features of a pair: Splink's levels and weights, and who else shares the pair's phone or email.

Every pair is scored by `PairScorer` from the model's settings on the two normalized rows of the
scan input (with its `<col>_rare` / `<col>_few` columns and the base's name frequencies), so the
levels and weights are the ones a scan or a check gives that pair. On top of them come signals
Splink cannot express per pair: how many different names carry the shared phone or email
(a school mailbox ten teachers use is no evidence of one person), whether a shared email is on a
free-mail domain, and how many name tokens the two records have in common.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from resolver.entities import EntitySpec
from resolver.linkage import Model
from resolver.normalize import email_domain, is_free_mail
from resolver.scoring import PairScorer, probability

# Weights past this carry no more information and would dominate a linear model
WEIGHT_CLIP = 40.0
_EMAIL_COLUMN = "emails"  # the frequency column whose values have a mail domain
_TOKENS_COLUMN = "name_tokens"


@dataclass(frozen=True)
class PairFeatures:
    """Features of pairs in the order given: `matrix[i]` belongs to `pairs[i]`.

    `match_weight` / `match_probability` are Splink's for the pair (the model's own score).
    """

    names: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    matrix: np.ndarray
    match_weight: np.ndarray
    match_probability: np.ndarray


class FeatureBuilder:
    """Builds features for pairs of one base (a scan input table) under one model."""

    def __init__(self, table: pa.Table, model: Model, spec: EntitySpec) -> None:
        self.spec = spec
        self.rows: dict[str, dict[str, Any]] = {r["unique_id"]: r for r in table.to_pylist()}
        self.scorer = PairScorer(model.settings_for_base(max(table.num_rows, 2)))
        self.levels = {name: sorted(labels) for name, labels in model.level_labels().items()}
        self.tf = self._term_frequencies()
        self.names_per_value = self._names_per_value()
        names: list[str] = []
        for comp, gammas in self.levels.items():
            names += [f"gamma_{comp}={g}" for g in gammas] + [f"mw_{comp}"]
        names.append("match_weight")
        for col in spec.frequency_columns:
            names += [f"shares_{col}", f"log2_names_sharing_{col}"]
        names += ["shared_email_free_mail", "shared_email_corporate", "name_token_overlap", "name_token_jaccard"]
        self.names = tuple(names)

    def _term_frequencies(self) -> dict[str, dict[Any, float]]:
        # Splink's TF table: share of the non-null values of the column that equal this one
        out: dict[str, dict[Any, float]] = {}
        for col in self.scorer.tf_columns:
            counts = Counter(r.get(col) for r in self.rows.values() if r.get(col) is not None)
            total = sum(counts.values()) or 1
            out[col] = {v: c / total for v, c in counts.items()}
        return out

    def _names_per_value(self) -> dict[str, dict[str, int]]:
        # distinct names per phone / email, as resolver/sql/value_frequency.sql counts them
        out: dict[str, dict[str, int]] = {}
        for col in self.spec.frequency_columns:
            names: dict[str, set[str]] = defaultdict(set)
            for r in self.rows.values():
                for v in r.get(col) or ():
                    names[v].add(r.get(self.spec.name_column) or f"\x00{r['unique_id']}")
            out[col] = {v: len(s) for v, s in names.items()}
        return out

    def build(self, pairs: Sequence[tuple[str, str]]) -> PairFeatures:
        """Features of `pairs` (record ids of this base); a pair with a record not in the base raises KeyError."""
        matrix = np.zeros((len(pairs), len(self.names)), dtype=np.float64)
        weights = np.zeros(len(pairs))
        index = {n: i for i, n in enumerate(self.names)}
        for i, (a, b) in enumerate(pairs):
            left, right = self.rows[a], self.rows[b]
            weight, contributions = self.scorer.score(left, right, self.tf)
            weights[i] = weight
            row = matrix[i]
            for c in contributions:
                key = f"gamma_{c.field}={c.gamma}"
                if key in index:
                    row[index[key]] = 1.0
                row[index[f"mw_{c.field}"]] = _clip(c.match_weight)
            row[index["match_weight"]] = _clip(weight)
            shared_emails: set[str] = set()
            for col in self.spec.frequency_columns:
                shared = set(left.get(col) or ()) & set(right.get(col) or ())
                if col == _EMAIL_COLUMN:
                    shared_emails = shared
                if shared:
                    row[index[f"shares_{col}"]] = 1.0
                    fewest = min(self.names_per_value[col].get(v, 1) for v in shared)
                    row[index[f"log2_names_sharing_{col}"]] = math.log2(fewest)
            domains = {email_domain(e) for e in shared_emails}
            row[index["shared_email_free_mail"]] = float(any(is_free_mail(d) for d in domains if d))
            row[index["shared_email_corporate"]] = float(any(not is_free_mail(d) for d in domains if d))
            tokens_l, tokens_r = set(left.get(_TOKENS_COLUMN) or ()), set(right.get(_TOKENS_COLUMN) or ())
            both = len(tokens_l & tokens_r)
            row[index["name_token_overlap"]] = float(both)
            union = len(tokens_l | tokens_r)
            row[index["name_token_jaccard"]] = both / union if union else 0.0
        probabilities = np.array([probability(w) for w in weights])
        return PairFeatures(self.names, tuple(pairs), matrix, weights, probabilities)


def _clip(weight: float) -> float:
    return max(-WEIGHT_CLIP, min(WEIGHT_CLIP, weight))
