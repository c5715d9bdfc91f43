"""Re-ranker features of a pair, and how the re-ranker's answer changes Splink's.

A pair's features are Splink's levels and weights for it (as `PairScorer` gives them, so the ones
a scan or a check gives that pair) and signals Splink cannot express per pair: how many different
names carry the shared phone or email (a school mailbox ten teachers use is no evidence of one
person), whether a shared email is on a free-mail domain, how many name tokens the records share.

The re-ranker is fitted in `training/` on reviewers' labels; the scan and the check apply it here
(design.md, flows 2 and 3), so they need only an object with `feature_names` and `predict`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from resolver.entities import EntitySpec
from resolver.linkage import Model, PairReranker, tf_value
from resolver.normalize import email_domain, is_free_mail
from resolver.records import FieldContribution
from resolver.scoring import PairScorer, probability

# Weights past this carry no more information and would dominate a linear model
WEIGHT_CLIP = 40.0
# The re-ranker lowers Splink's probability by how far it stands below even odds (see `rerank`)
EVEN_ODDS = 0.5
_EMAIL_COLUMN = "emails"  # the frequency column whose values have a mail domain
_TOKENS_COLUMN = "name_tokens"

NamesSharing = Callable[[str, Any], float]  # (column, value) -> how many different names carry it


def rerank(splink_p: np.ndarray, reranker_p: np.ndarray) -> np.ndarray:
    """Final probabilities: Splink's, scaled down by min(1, reranker_p / 0.5).

    A re-ranker at even odds or above leaves Splink's answer alone, so pairs it agrees with keep
    their full probability (a calibrated classifier seldom says 0.99, and a plain min() would cap
    every pair below an auto-merge threshold). Below even odds it pulls the pair down in
    proportion: 0.1 leaves a fifth of Splink's probability. It never raises one: it is fitted on
    the pairs reviewers were shown, mostly hard cases, and must not invent matches elsewhere.
    """
    return np.asarray(splink_p, dtype=np.float64) * np.minimum(1.0, np.asarray(reranker_p) / EVEN_ODDS)


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


class FeatureSpace:
    """The feature names of one model and entity, and one pair's feature row."""

    def __init__(self, model: Model, spec: EntitySpec) -> None:
        self.spec = spec
        levels = {name: sorted(labels) for name, labels in model.level_labels().items()}
        names: list[str] = []
        for comp, gammas in levels.items():
            names += [f"gamma_{comp}={g}" for g in gammas] + [f"mw_{comp}"]
        names.append("match_weight")
        for col in spec.frequency_columns:
            names += [f"shares_{col}", f"log2_names_sharing_{col}"]
        names += ["shared_email_free_mail", "shared_email_corporate", "name_token_overlap", "name_token_jaccard"]
        self.names = tuple(names)
        self.index = {n: i for i, n in enumerate(self.names)}

    def row(self, left: dict[str, Any], right: dict[str, Any], weight: float,
            contributions: Sequence[FieldContribution], names_sharing: NamesSharing) -> np.ndarray:
        """One pair's features from its Splink score and the two normalized rows."""
        index, row = self.index, np.zeros(len(self.names), dtype=np.float64)
        for c in contributions:
            key = f"gamma_{c.field}={c.gamma}"
            if key in index:
                row[index[key]] = 1.0
            if f"mw_{c.field}" in index:
                row[index[f"mw_{c.field}"]] = _clip(c.match_weight)
        row[index["match_weight"]] = _clip(weight)
        shared_emails: set[str] = set()
        for col in self.spec.frequency_columns:
            shared = set(left.get(col) or ()) & set(right.get(col) or ())
            if col == _EMAIL_COLUMN:
                shared_emails = shared
            if shared:
                row[index[f"shares_{col}"]] = 1.0
                fewest = min(max(names_sharing(col, v), 1.0) for v in shared)
                row[index[f"log2_names_sharing_{col}"]] = math.log2(fewest)
        domains = {email_domain(e) for e in shared_emails}
        row[index["shared_email_free_mail"]] = float(any(is_free_mail(d) for d in domains if d))
        row[index["shared_email_corporate"]] = float(any(not is_free_mail(d) for d in domains if d))
        tokens_l, tokens_r = set(left.get(_TOKENS_COLUMN) or ()), set(right.get(_TOKENS_COLUMN) or ())
        both, union = len(tokens_l & tokens_r), len(tokens_l | tokens_r)
        row[index["name_token_overlap"]] = float(both)
        row[index["name_token_jaccard"]] = both / union if union else 0.0
        return row

    def fits(self, reranker: PairReranker) -> bool:
        """Whether `reranker` was trained on these features (not on another model's comparisons)."""
        return tuple(reranker.feature_names) == self.names


class FeatureBuilder:
    """Builds features for pairs of one base (a scan input table) under one model.

    The base's statistics (term frequencies, names per phone / email) come from columnar passes
    over the whole table; rows become Python dicts only for `ids` (the records of the pairs to
    build, when the caller knows them): a scan of 318,000 records needs a few tens of thousands.
    """

    def __init__(self, table: pa.Table, model: Model, spec: EntitySpec, ids: Collection[str] | None = None) -> None:
        self.spec = spec
        self.space = FeatureSpace(model, spec)
        self.names = self.space.names
        rows = table if ids is None else table.filter(pc.is_in(table["unique_id"], pa.array(sorted(ids), pa.string())))
        self.rows: dict[str, dict[str, Any]] = {r["unique_id"]: r for r in rows.to_pylist()}
        self.scorer = PairScorer(model.settings_for_base(max(table.num_rows, 2)))
        self.tf = self._term_frequencies(table)
        self.names_per_value = self._names_per_value(table)

    def _term_frequencies(self, table: pa.Table) -> dict[str, dict[Any, float]]:
        # Splink's TF table: share of the non-null values of the column that equal this one
        out: dict[str, dict[Any, float]] = {}
        for col in self.scorer.tf_columns:
            counts = pc.value_counts(table[col].drop_null()).to_pylist()
            total = sum(c["counts"] for c in counts) or 1
            out[col] = {c["values"]: tf_value(c["counts"], total) for c in counts}  # as the scan's
        return out

    def _names_per_value(self, table: pa.Table) -> dict[str, dict[str, int]]:
        # distinct names per phone / email, as resolver/store/sql/value_frequency.sql counts them; a record
        # without a name counts as a name of its own
        out: dict[str, dict[str, int]] = {}
        name = self.spec.name_column
        with duckdb.connect() as con:
            con.register("base", table.select(["unique_id", name, *self.spec.frequency_columns]))
            for col in self.spec.frequency_columns:
                rows = con.execute(
                    f'SELECT v, count(DISTINCT coalesce(nullif("{name}", \'\'), chr(0) || unique_id)) '
                    f'FROM (SELECT unnest(list_distinct("{col}")) AS v, "{name}", unique_id FROM base) '
                    "WHERE v IS NOT NULL GROUP BY v").fetchall()
                out[col] = dict(rows)
        return out

    def _names_sharing(self, col: str, value: Any) -> float:
        return float(self.names_per_value[col].get(value, 1))

    def build(self, pairs: Sequence[tuple[str, str]]) -> PairFeatures:
        """Features of `pairs` (record ids of this base); a pair with a record not in the base raises KeyError."""
        matrix = np.zeros((len(pairs), len(self.names)), dtype=np.float64)
        weights = np.zeros(len(pairs))
        for i, (a, b) in enumerate(pairs):
            left, right = self.rows[a], self.rows[b]
            weight, contributions = self.scorer.score(left, right, self.tf)
            weights[i] = weight
            matrix[i] = self.space.row(left, right, weight, contributions, self._names_sharing)
        probabilities = np.array([probability(w) for w in weights])
        return PairFeatures(self.names, tuple(pairs), matrix, weights, probabilities)


def _clip(weight: float) -> float:
    return max(-WEIGHT_CLIP, min(WEIGHT_CLIP, weight))
