"""Splink linkage: settings from an EntitySpec, training, loading a model and scoring a whole base.

A `Model` is a trained Splink settings dict (the JSON Splink saves) plus the two thresholds and a
version. Scoring runs Splink on its own in-memory DuckDB connection: the store file never gets
Splink's `__splink__*` scratch tables (splink5-notes 1.2), and the scan input arrives as Arrow.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from splink import DuckDBAPI, Linker, SettingsCreator
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator

from resolver.entities import (
    SHARED_VALUE_COMPARISONS,
    EntitySpec,
    ExtraField,
    extra_blocking,
    extra_comparison,
    extra_deterministic,
)
from resolver.errors import ModelError
from resolver.records import Entity

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

# Training budget: u is estimated from this many random pairs (splink5-notes 4: cost is flat in N).
U_MAX_PAIRS = 5e6
# Used when no pair meets a deterministic rule: one pair in ten thousand matches
FALLBACK_PRIOR = 1e-4
# Fewer known duplicates than this cannot estimate m for every level; EM is used instead
MIN_POSITIVE_PAIRS = 200
# A model file (Splink settings or meta JSON) is ~10 KB; anything this large is not one
MAX_MODEL_FILE_BYTES = 4 * 1024 * 1024
# From this many records on, the base size that scales the prior and the term-frequency denominators
# are rounded to 1/64 of an octave (about 1.1 %): a few new records then leave every other pair's
# score exactly as it was, so an incremental scan keeps those pairs and still equals a full scan
# (resolver/incremental.py). Below it (a small base, a test) the exact counts are used.
ROUND_BASE_FROM = 20_000
_ROUND_STEPS = 64


def rounded_base(n: int) -> int:
    """`n` as the scoring uses it for a base size or a term-frequency denominator (see ROUND_BASE_FROM)."""
    if n < ROUND_BASE_FROM:
        return n
    return int(round(2.0 ** (round(math.log2(n) * _ROUND_STEPS) / _ROUND_STEPS)))  # noqa: RUF046 (float ** gives Any)


# In such a base, a value's count in a term frequency is rounded too, from this many records on and to
# 1/16 of an octave (about 4 %): one more "Иван Иванов" among 1,500 then rarely moves the weight of the
# other 1,500 x 1,500 pairs that share the name (at most 0.03 bits when it does), which an incremental
# scan would otherwise score again.
ROUND_COUNT_FROM = 64
_COUNT_STEPS = 16


def tf_value(count: int, total: int) -> float:
    """A value's term frequency: `count` of the `total` non-null values, as the scan scores it."""
    denominator = rounded_base(total)
    if denominator >= ROUND_BASE_FROM and count >= ROUND_COUNT_FROM:
        count = int(round(2.0 ** (round(math.log2(count) * _COUNT_STEPS) / _COUNT_STEPS)))  # noqa: RUF046
    return count / float(denominator)


def tf_columns(settings: dict[str, Any]) -> list[str]:
    """The columns a model's levels adjust by term frequency."""
    return sorted({lvl["tf_adjustment_column"] for comp in settings["comparisons"]
                   for lvl in comp["comparison_levels"] if lvl.get("tf_adjustment_column")})


class PairReranker(Protocol):
    """A classifier over pair features (resolver/features.py) that reviewers' labels trained (training/reranker.py)."""

    @property
    def feature_names(self) -> tuple[str, ...]: ...  # read-only, so a frozen dataclass fits

    def predict(self, matrix: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Model:
    """A trained Splink model for one entity, with its thresholds and, once reviewers taught it, a re-ranker.

    `review_threshold`: pairs at or above it are shown to a person; `auto_merge_threshold`:
    groups whose weakest link is at or above it are safe to merge without one. `reranker` lowers
    the probability of pairs like those reviewers rejected (resolver/features.py `rerank`).
    """

    entity: Entity
    version: str
    settings: dict[str, Any]
    review_threshold: float
    auto_merge_threshold: float
    extras: tuple[ExtraField, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    reranker: PairReranker | None = field(default=None, compare=False, repr=False)

    @property
    def trained_on_records(self) -> int | None:
        n = self.meta.get("trained_on_records")
        return int(n) if n else None

    def settings_for_base(self, n_records: int) -> dict[str, Any]:
        """Settings with the prior scaled to a base of `n_records`.

        The prior is the chance that two random records match: with a steady share of duplicates
        it falls as 1/N (duplicates grow with N, pairs with N²). Term-frequency u values fall the
        same way, so a name that two records share weighs alike in a base of 20k and of 300k.
        """
        settings = dict(self.settings, retain_matching_columns=True, retain_intermediate_calculation_columns=True)
        n_records = rounded_base(n_records)
        trained = self.trained_on_records
        # Only scaled down: in a base smaller than the training set, "a phone at most 10 records
        # have" no longer means rare (ten teachers may be the whole file), so the prior stays put.
        if trained and n_records > trained:
            scale = (trained - 1) / (n_records - 1)
            lam = float(self.settings["probability_two_random_records_match"])
            settings["probability_two_random_records_match"] = lam * scale
            settings["comparisons"] = [_scale_shared_u(c, scale) for c in self.settings["comparisons"]]
        return settings

    @property
    def comparison_names(self) -> list[str]:
        return [c["output_column_name"] for c in self.settings["comparisons"]]

    def level_labels(self) -> dict[str, dict[int, str]]:
        """comparison -> gamma -> label; Splink numbers non-null levels n-1 … 0, the null level -1."""
        out: dict[str, dict[int, str]] = {}
        for comp in self.settings["comparisons"]:
            levels = comp["comparison_levels"]
            non_null = [lvl for lvl in levels if not lvl.get("is_null_level")]
            labels = {len(non_null) - 1 - i: lvl.get("label_for_charts", "") for i, lvl in enumerate(non_null)}
            labels[-1] = "missing on one side"
            out[comp["output_column_name"]] = labels
        return out


def _scale_shared_u(comparison: dict[str, Any], scale: float) -> dict[str, Any]:
    """u of the agreeing levels of a shared-value comparison, for a base `1/scale` times larger.

    Two random records share a given phone half as often in a base twice as large; the else
    level takes what the agreeing levels give up.
    """
    if comparison["output_column_name"] not in SHARED_VALUE_COMPARISONS:
        return comparison
    levels = [dict(lvl) for lvl in comparison["comparison_levels"]]
    agreeing = [lvl for lvl in levels[:-1] if not lvl.get("is_null_level") and lvl.get("u_probability")]
    if not agreeing or levels[-1].get("u_probability") is None:
        return comparison
    for lvl in agreeing:
        lvl["u_probability"] = lvl["u_probability"] * scale
    levels[-1]["u_probability"] = 1.0 - sum(lvl["u_probability"] for lvl in agreeing)
    return dict(comparison, comparison_levels=levels)


def models_dir() -> Path:
    """The shipped default models (Splink JSON + meta per entity)."""
    return Path(str(files("models")))


def load_model(entity: Entity, directory: Path | None = None) -> Model:
    """Load `<entity>.json` (Splink settings) and `<entity>.meta.json` (version, thresholds)."""
    directory = directory or models_dir()
    settings_path = directory / f"{entity}.json"
    meta_path = directory / f"{entity}.meta.json"
    try:
        settings = _read_json(settings_path)
        meta = _read_json(meta_path)
    except FileNotFoundError as exc:
        raise ModelError(f"no model for {entity} in {directory}: {exc.filename} is missing") from exc
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, too large
        raise ModelError(f"model file for {entity} in {directory} is not valid JSON: {exc}") from exc
    try:
        return Model(
            entity=entity,
            version=str(meta["version"]),
            settings=settings,
            review_threshold=float(meta["review_threshold"]),
            auto_merge_threshold=float(meta["auto_merge_threshold"]),
            meta=meta,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{meta_path}: missing or invalid {exc}") from exc


def _read_json(path: Path) -> Any:
    """JSON text only (never a pickle), and at most MAX_MODEL_FILE_BYTES of it."""
    with path.open("rb") as fh:
        blob = fh.read(MAX_MODEL_FILE_BYTES + 1)
    if len(blob) > MAX_MODEL_FILE_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_MODEL_FILE_BYTES} bytes")
    return json.loads(blob.decode("utf-8"))


def save_model(model: Model, directory: Path) -> None:
    """Write a model as `load_model` reads it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{model.entity}.json").write_text(
        json.dumps(model.settings, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    meta = dict(model.meta, version=model.version, review_threshold=model.review_threshold,
                auto_merge_threshold=model.auto_merge_threshold)
    (directory / f"{model.entity}.meta.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def settings_for(spec: EntitySpec, extras: Sequence[ExtraField] = ()) -> SettingsCreator:
    """Untrained Splink settings: the spec's comparisons and blocking plus the account's extras."""
    comparisons: list[ComparisonCreator | dict[str, Any]] = [*spec.comparisons(), *map(extra_comparison, extras)]
    blocking: list[BlockingRuleCreator | dict[str, Any]] = [
        *spec.blocking_rules(), *(r for e in extras for r in extra_blocking(e))]
    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        retain_matching_columns=True,  # gamma_* columns (the explanation's levels) need it
        retain_intermediate_calculation_columns=True,  # mw_* columns: per-field contributions
    )


def train_settings(table: pa.Table, spec: EntitySpec, extras: Sequence[ExtraField] = (), *,
                   positive_pairs: Sequence[tuple[str, str]] = (), seed: int = 1, recall: float = 0.7,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Train Splink on `table` (a scan input) and return the settings JSON.

    Prior from deterministic rules and u from random pairs, always. m from `positive_pairs`
    (record ids known to be duplicates) when there are at least `MIN_POSITIVE_PAIRS`; otherwise
    by EM in several sessions so every comparison is estimated in at least one (a session cannot
    estimate the fields it blocks on). Splink learns m from positives only (splink5-notes 4.1).
    """
    linker = _linker(table, settings_for(spec, extras))
    em_rules = [] if len(positive_pairs) >= MIN_POSITIVE_PAIRS else spec.em_rules() + [
        r for e in extras for r in extra_blocking(e)]
    steps = 3 + len(em_rules)
    done = 0

    def tick(what: str) -> None:
        nonlocal done
        done += 1
        logger.info("training step %d/%d: %s", done, steps, what)  # -v: one line per step, no reprs
        if progress:
            progress(done, steps)

    rules: list[str | BlockingRuleCreator] = [
        *spec.deterministic_rules(), *(r for e in extras for r in extra_deterministic(e, spec))]
    try:
        linker.training.estimate_probability_two_random_records_match(rules, recall=recall)
    except ValueError:
        logger.warning("no pair meets the deterministic rules; keeping the default prior")
    if not 0 < float(linker._settings_obj._probability_two_random_records_match) < 1:
        # no record pair meets any rule (a file without phones or emails): fall back to a prior
        linker._settings_obj._probability_two_random_records_match = FALLBACK_PRIOR
    tick(f"prior {float(linker._settings_obj._probability_two_random_records_match):.3g} from "
         f"{len(rules)} deterministic rules")
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=seed)
    tick("u from random pairs")
    if not em_rules:
        labels = pa.table({"unique_id_l": [a for a, _ in positive_pairs], "unique_id_r": [b for _, b in positive_pairs],
                           "clerical_match_score": [1.0] * len(positive_pairs)})
        linker.training.estimate_m_from_pairwise_labels(linker._db_api.register(labels))
    tick(f"m from {len(positive_pairs)} known duplicate pairs" if not em_rules else "m by EM, sessions follow")
    for rule in em_rules:
        # A session filters the linker's own settings (drops the comparisons its rule uses, raises the
        # prior for the block) and puts them back only when it succeeds: a failed one would leave a
        # model without those comparisons and with a prior tens of times too high.
        kept = linker._settings_obj.core_model_settings.copy()
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
            what = f"m by EM blocked on {_rule_sql(rule)}"
        except Exception as exc:
            linker._settings_obj.core_model_settings = kept
            logger.warning("EM session blocked on %s skipped: %s", _rule_sql(rule), _first_line(exc))
            what = f"EM blocked on {_rule_sql(rule)} skipped"
        tick(what)
    return _floor_m(linker.misc.save_model_to_json())


def _rule_sql(rule: BlockingRuleCreator) -> str:
    return rule.get_blocking_rule("duckdb").blocking_rule_sql


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0][:300]


# A level no known duplicate reached (a completely different name) gets m near 0 and a weight
# of -27 bits that no phone or email could outweigh; real duplicates do reach it (a contact
# renamed to its company), so m is floored and the levels renormalised.
M_FLOOR = 0.002


def _floor_m(settings: dict[str, Any]) -> dict[str, Any]:
    for comp in settings["comparisons"]:
        levels = [lvl for lvl in comp["comparison_levels"] if not lvl.get("is_null_level")]
        ms = [lvl.get("m_probability") for lvl in levels]
        if all(m is None for m in ms):
            continue
        floored = [max(m or 0.0, M_FLOOR) for m in ms]  # unobserved (None) is "never seen", not "unknown"
        total = sum(floored)
        for lvl, m in zip(levels, floored, strict=True):
            lvl["m_probability"] = m / total
    return settings


def _linker(table: pa.Table, settings: SettingsCreator | dict[str, Any]) -> Linker:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # DuckDB's own bar on stderr: the CLI draws its own (or none)
    db_api = DuckDBAPI(connection=con)
    sdf = db_api.register(table)
    # Splink warns about every level a training session cannot see; those are expected here
    return Linker(sdf, settings, log_level=logging.ERROR)


def predict_pairs(table: pa.Table, model: Model, *, threshold: float, prune: bool = True,
                  prune_below: float | None = None, keep: str | None = None) -> pa.Table:
    """Score every blocked pair of `table` and keep those with match_probability >= threshold.

    Pruning leaves out pairs that cannot reach `prune_below` (default: `threshold`) unless SQL `keep`
    (over `l`/`r`) holds for them: the scan predicts contacts down to a low floor only for the pairs its
    new-phone rule may raise, and needs the rest only at the review threshold.

    Returns Arrow columns: left_id, right_id (left < right), match_weight, match_probability,
    then gamma_<c>, mw_<c> and (where TF applies) mw_tf_adj_<c> for each comparison c.
    """
    settings = model.settings_for_base(table.num_rows)
    if table.num_rows < 2:
        return _empty_pairs(model)
    tfs = {col: _tf_table(table, col) for col in tf_columns(settings)}
    if prune:  # pairs that can never reach the threshold are not compared (resolver/pruning.py)
        from resolver.pruning import narrowed_rules  # pruning imports blocking, which imports the store

        present = {col: table.num_rows - table.column(col).null_count for col in tfs}
        floor = {col: tf_value(1, n) if n else 0.0 for col, n in present.items()}  # 0: no bound, nothing narrowed
        rules = narrowed_rules(settings, threshold if prune_below is None else max(prune_below, threshold), floor,
                               keep, record_tf=_RECORD_TF)
        texts = [r["blocking_rule"] for r in rules if isinstance(r, dict)]
        if any(_RECORD_TF in t for t in texts):
            table = table.append_column(_RECORD_TF, _record_tf(table, texts, tfs))
        settings["blocking_rules_to_generate_predictions"] = rules
    linker = _linker(table, settings)
    for col, tf in tfs.items():
        if rounded_base(tf[1]) >= ROUND_BASE_FROM:  # below it Splink computes the same table itself
            linker.table_management.register_term_frequency_lookup(linker._db_api.register(tf[0]), col)
    pairs = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
    have = {c.unquote().name for c in pairs.columns}
    cols = ["match_weight", "match_probability"]
    for name in model.comparison_names:
        cols += [c for c in (f"gamma_{name}", f"mw_{name}", f"mw_tf_adj_{name}") if c in have]
    select = ", ".join(f'"{c}"' for c in cols)
    # Splink emits l < r by unique_id; order pins the output for stable downstream ids
    out = pairs.query_sql(
        "SELECT least(unique_id_l, unique_id_r) AS left_id, greatest(unique_id_l, unique_id_r) AS right_id, "
        f"{select} FROM {{this}} ORDER BY left_id, right_id").as_pyarrow_table()
    linker.table_management.delete_tables_created_by_splink_from_db()
    return out


# The scan table's column of each record's term frequency of the pruning's name column (resolver/pruning.py)
_RECORD_TF = "prune_record_tf"


def _tf_table(table: pa.Table, col: str) -> tuple[pa.Table, int]:
    """Splink's term-frequency table of `col` (count / non-null values, rounded as `tf_value` does) and the
    number of non-null values; below ROUND_BASE_FROM equal to the table Splink computes itself."""
    counts = pc.value_counts(table.column(col).drop_null())
    total = int(pc.sum(counts.field("counts")).as_py() or 0)
    # tf_value once per distinct count (a few hundred), not per distinct value (hundreds of thousands)
    distinct = pc.unique(counts.field("counts"))
    tfs = pa.array([tf_value(n, total) for n in distinct.to_pylist()], pa.float64())
    per_value = pc.take(tfs, pc.index_in(counts.field("counts"), distinct))
    tf = pa.table({col: counts.field("values"), f"tf_{col}": per_value})
    return tf, total


def _record_tf(table: pa.Table, rules: list[str], tfs: dict[str, tuple[pa.Table, int]]) -> pa.Array:
    """Each record's term frequency of the column the narrowed rules compare it by (null: no value)."""
    col = next(c for c in tfs if any(f'l."{c}" = r."{c}"' in t for t in rules))
    tf = tfs[col][0]
    return pc.take(tf.column(f"tf_{col}"), pc.index_in(table.column(col), tf.column(col))).combine_chunks()


def _empty_pairs(model: Model) -> pa.Table:
    fields = [("left_id", pa.string()), ("right_id", pa.string()), ("match_weight", pa.float64()),
              ("match_probability", pa.float64())]
    for name in model.comparison_names:
        fields += [(f"gamma_{name}", pa.int32()), (f"mw_{name}", pa.float64())]
    return pa.schema(fields).empty_table()


def prior_weight(model: Model) -> float:
    """log2 prior odds: the match weight a pair starts from before any field is compared."""
    lam = float(model.settings.get("probability_two_random_records_match", 1e-4))
    return math.log2(lam / (1 - lam))
