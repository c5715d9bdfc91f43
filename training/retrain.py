"""The retrain flow: Splink and the re-ranker on an account's data and labels, evaluated, logged, promoted if not worse.

1. Splink: prior and u on the account's base (u of the shared-phone / shared-email levels is
   kept from the current model: random sampling overestimates it, training/default_models.py);
   m from the "duplicate" labels when there are at least MIN_POSITIVE_PAIRS, else EM.
2. Re-ranker (training/reranker.py) on both classes of labels.
3. Evaluation on labels the new model never saw: a stratified held-out share, or out-of-fold
   predictions (cross-validation) when labels are fewer than CV_BELOW. The current champion (or
   the shipped default) is scored on the same labels.
4. MLflow: params, stepped P/R/F1 series, PR-AUC, artifacts, a registered version with threshold
   tags; alias `champion` moves only if the new version is not worse; the reason is logged.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from resolver import csvsafe
from resolver.entities import SHARED_VALUE_COMPARISONS, EntitySpec, ExtraField, spec_for
from resolver.errors import ModelError
from resolver.features import FeatureBuilder, PairFeatures
from resolver.linkage import MIN_POSITIVE_PAIRS, Model, Progress, train_settings
from resolver.records import Entity
from resolver.store.interface import Persistence
from training.artifacts import RefusedModel
from training.evaluate import LABEL_THRESHOLDS, label_curve, label_scores, pr_auc
from training.labels import LabeledPair, labeled_pairs
from training.registry import AUTO_MERGE_TAG, MODEL_DIR, RERANKER_FILE, REVIEW_TAG, Registry, registered_name
from training.reranker import Reranker, fit_reranker

logger = logging.getLogger(__name__)

CV_BELOW = 200  # fewer labels than this: cross-validation instead of one held-out share
HELD_OUT_SHARE = 0.25
CV_FOLDS = 5
# "Not worse" allows this much less F1 / PR-AUC: a few held-out labels flip on noise alone
NOT_WORSE_TOLERANCE = 0.005
BORDERLINE_PAIRS = 200


@dataclass(frozen=True)
class Evaluation:
    """Scores of one model on the held-out labels."""

    pr_auc: float
    f1_at_review: float
    curve: dict[float, tuple[float, float, float]]  # threshold -> (precision, recall, f1)


@dataclass(frozen=True)
class RetrainResult:
    """What a retrain did: the registered version, whether it became champion and why."""

    entity: Entity
    registered_model: str
    version: int
    run_id: str
    promoted: bool
    reason: str
    n_records: int
    n_labels: int
    evaluation: str  # "held-out", "cross-validation" or "none"
    candidate: Evaluation | None = None
    champion: Evaluation | None = None
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)


def keep_shared_u(settings: dict[str, Any], base: Model, n_records: int) -> dict[str, Any]:
    """Copy the base model's u of the shared-value comparisons (scaled to `n_records`) into `settings`."""
    base_levels = {c["output_column_name"]: c["comparison_levels"]
                   for c in base.settings_for_base(n_records)["comparisons"]}
    for comp in settings["comparisons"]:
        name = comp["output_column_name"]
        if name not in SHARED_VALUE_COMPARISONS or name not in base_levels:
            continue
        if len(base_levels[name]) != len(comp["comparison_levels"]):
            continue
        for lvl, old in zip(comp["comparison_levels"], base_levels[name], strict=True):
            if old.get("u_probability") is not None:
                lvl["u_probability"] = old["u_probability"]
    return settings


def _split(labels: Sequence[LabeledPair], seed: int) -> tuple[str, list[tuple[np.ndarray, np.ndarray]]]:
    """("held-out" | "cross-validation" | "none", [(train indices, test indices), ...])."""
    y = np.array([p.label for p in labels], dtype=int)
    fewest = int(np.bincount(y, minlength=2).min()) if len(y) else 0
    if fewest < 2:
        return "none", []
    idx = np.arange(len(y))
    if len(y) >= CV_BELOW:
        train, test = train_test_split(idx, test_size=HELD_OUT_SHARE, stratify=y, random_state=seed)
        return "held-out", [(np.sort(train), np.sort(test))]
    folds = StratifiedKFold(n_splits=min(CV_FOLDS, fewest), shuffle=True, random_state=seed)
    return "cross-validation", [(a, b) for a, b in folds.split(idx, y)]


def _evaluate(labels: np.ndarray, p: np.ndarray, review: float) -> Evaluation:
    curve = {t: (s.precision, s.recall, s.f1) for t, s in label_curve(labels.tolist(), p.tolist()).items()}
    return Evaluation(pr_auc=pr_auc(labels.tolist(), p.tolist()),
                      f1_at_review=label_scores(labels.tolist(), p.tolist(), review).f1, curve=curve)


def _final_p(features: PairFeatures, reranker: Reranker | None, rows: np.ndarray) -> np.ndarray:
    splink: np.ndarray = features.match_probability[rows]
    if reranker is None:
        return splink
    if reranker.feature_names != features.names:  # a champion trained on other comparisons
        return splink
    return reranker.combine(splink, features.matrix[rows])


def promotion(candidate: Evaluation | None, champion: Evaluation | None, *, has_champion: bool) -> tuple[bool, str]:
    """(promote?, why): not worse than the champion on the same held-out labels, within the tolerance."""
    if candidate is None or champion is None:
        return False, "not promoted: no held-out labels of both kinds to compare the models on"
    worse = []
    if candidate.f1_at_review < champion.f1_at_review - NOT_WORSE_TOLERANCE:
        worse.append(f"F1 at the review threshold {candidate.f1_at_review:.4f} < {champion.f1_at_review:.4f}")
    if candidate.pr_auc < champion.pr_auc - NOT_WORSE_TOLERANCE:
        worse.append(f"PR-AUC {candidate.pr_auc:.4f} < {champion.pr_auc:.4f}")
    against = "the champion" if has_champion else "the shipped default"
    if worse:
        return False, f"not promoted: worse than {against} on the same held-out labels: " + "; ".join(worse)
    return True, (f"promoted: not worse than {against} on the same held-out labels "
                  f"(F1 {candidate.f1_at_review:.4f} vs {champion.f1_at_review:.4f}, "
                  f"PR-AUC {candidate.pr_auc:.4f} vs {champion.pr_auc:.4f})")


def retrain(store: Persistence, account_id: str, entity: Entity, *, tracking_uri: str, default: Model,
            progress: Progress | None = None, seed: int = 1) -> RetrainResult:
    """Retrain the account's model for `entity` from its base and labels; log, register, maybe promote.

    `default` is the shipped model: the baseline when the account has no champion yet, and the
    source of thresholds for a first version (later versions carry the champion's tags over, so
    thresholds someone tuned in the MLflow UI survive a retrain).
    """
    t0 = time.perf_counter()
    tick = progress or (lambda done, total: None)
    total = 10
    spec = spec_for(entity)
    extras = store.extra_fields(account_id, entity)
    table = store.scan_input(account_id, spec, extras)
    if table.num_rows < 2:
        raise ModelError(f"account {account_id} has {table.num_rows} live {entity} record(s); nothing to train on")
    ids = {i: None for i in table.column("unique_id").to_pylist()}
    labels = labeled_pairs(store, account_id, entity, live_ids=ids)
    tick(1, total)

    registry = Registry(tracking_uri)
    info = registry.champion_info(account_id, entity)
    try:
        current = registry.load(account_id, entity, info) if info else None
    except RefusedModel as exc:
        # a champion that cannot load is what the service refuses too: train from the shipped default,
        # and compare against it, so a retrain is the way out of a broken champion
        logger.warning("champion of %s/%s refused (%s); retraining from the shipped default", account_id, entity, exc)
        current = None
    base = current.model if current else default
    mode, folds = _split(labels, seed)
    y = np.array([p.label for p in labels], dtype=int)
    train_rows = folds[0][0] if mode == "held-out" else np.arange(len(labels))
    positives = [(labels[i].left_id, labels[i].right_id) for i in train_rows if labels[i].label == 1]

    settings = train_settings(table, spec, extras, positive_pairs=positives, seed=seed,
                              progress=lambda d, t: tick(1 + round(5 * d / max(t, 1)), total))
    settings = keep_shared_u(settings, default, table.num_rows)
    candidate = Model(entity=entity, version="candidate", settings=settings,
                      review_threshold=base.review_threshold, auto_merge_threshold=base.auto_merge_threshold,
                      extras=tuple(extras), meta={"trained_on_records": table.num_rows})
    pairs = [(p.left_id, p.right_id) for p in labels]
    labeled_ids = {i for pair in pairs for i in pair}
    features = FeatureBuilder(table, candidate, spec, labeled_ids).build(pairs)
    tick(7, total)

    notes: list[str] = []
    reranker: Reranker | None = None
    out_of_fold = np.zeros(len(labels))
    for train, test in folds:
        try:
            fold_model = fit_reranker(features.names, features.matrix[train], y[train], seed=seed)
        except ModelError:
            fold_model = None
        out_of_fold[test] = _final_p(features, fold_model, test)
    if mode != "none":
        reranker = fit_reranker(features.names, features.matrix[train_rows], y[train_rows], seed=seed)
    else:
        notes.append("no re-ranker: it needs at least two labels of each kind")
    tick(8, total)

    cand_eval = champ_eval = None
    chart: bytes | None = None
    test_rows = np.concatenate([t for _, t in folds]) if folds else np.array([], dtype=int)
    if mode != "none":
        cand_eval = _evaluate(y[test_rows], out_of_fold[test_rows], candidate.review_threshold)
        champ_features = FeatureBuilder(table, base, spec, labeled_ids).build([pairs[i] for i in test_rows])
        champ_p = _final_p(champ_features, current.reranker if current else None, np.arange(len(test_rows)))
        champ_eval = _evaluate(y[test_rows], champ_p, base.review_threshold)
        chart = pr_curve_png(y[test_rows], out_of_fold[test_rows], champ_p, candidate.review_threshold,
                             candidate.auto_merge_threshold, champion_label=(
                                 f"champion v{info.version}" if info else "shipped default"))
    promote, reason = promotion(cand_eval, champ_eval, has_champion=current is not None)

    name = registered_name(account_id, entity)
    run_id = registry.start_run(name, run_name=f"retrain {entity}",
                                tags={"account_id": account_id, "entity": entity, "evaluation": mode})
    try:
        _log_run(registry, run_id, table_rows=table.num_rows, labels=labels, y=y, mode=mode, settings=settings,
                 spec=spec, extras=extras, reranker=reranker, candidate=candidate, cand_eval=cand_eval,
                 champ_eval=champ_eval, champion_version=info.version if info else None, notes=notes,
                 borderline=_borderline(labels, y, out_of_fold, test_rows, candidate.review_threshold))
        registry.set_run_tag(run_id, "promotion", reason)
        version = registry.register(account_id, entity, run_id, tags={
            REVIEW_TAG: str(candidate.review_threshold), AUTO_MERGE_TAG: str(candidate.auto_merge_threshold),
            "promotion": reason})
        if chart is not None:
            registry.log_bytes(run_id, chart, "charts/pr_curve.png")
        if promote:
            registry.promote(account_id, entity, version)
        registry.end_run(run_id)
    except Exception:
        registry.end_run(run_id, "FAILED")
        raise
    tick(total, total)
    logger.info("retrain %s/%s: version %d, %s", account_id, entity, version, reason)
    return RetrainResult(entity=entity, registered_model=name, version=version, run_id=run_id, promoted=promote,
                         reason=reason, n_records=table.num_rows, n_labels=len(labels), evaluation=mode,
                         candidate=cand_eval, champion=champ_eval, seconds=round(time.perf_counter() - t0, 3),
                         notes=tuple(notes))


def _borderline(labels: Sequence[LabeledPair], y: np.ndarray, p: np.ndarray, rows: np.ndarray,
                review: float) -> str:
    """CSV of the held-out pairs scored nearest the review threshold: the ones to look at first."""
    nearest = sorted(rows.tolist(), key=lambda i: abs(p[i] - review))[:BORDERLINE_PAIRS]
    out = io.StringIO()
    writer = csvsafe.writer(out, lineterminator="\n")
    writer.writerow(["left_id", "right_id", "label", "match_probability"])
    for i in nearest:
        writer.writerow([labels[i].left_id, labels[i].right_id, int(y[i]), f"{p[i]:.6f}"])
    return out.getvalue()


def _log_run(registry: Registry, run_id: str, *, table_rows: int, labels: Sequence[LabeledPair], y: np.ndarray,
             mode: str, settings: dict[str, Any], spec: EntitySpec, extras: Sequence[ExtraField],
             reranker: Reranker | None, candidate: Model, cand_eval: Evaluation | None,
             champ_eval: Evaluation | None, champion_version: int | None, notes: list[str], borderline: str) -> None:
    positives = int(y.sum()) if len(y) else 0
    registry.log_params(run_id, {
        "comparisons": [c["output_column_name"] for c in settings["comparisons"]],
        "blocking_rules": [r["blocking_rule"] if isinstance(r, dict) else str(r)
                           for r in settings.get("blocking_rules_to_generate_predictions", [])],
        "extra_fields": [e.name for e in extras],
        "records": table_rows, "labels": len(labels), "labels_duplicate": positives,
        "labels_not_duplicate": len(labels) - positives, "evaluation": mode,
        "splink_m_from": "labels" if positives >= MIN_POSITIVE_PAIRS and mode == "held-out" else "EM",
        "reranker": reranker.kind if reranker else "none",
        "reranker_combination": "splink_p * min(1, reranker_p / 0.5)",
        "champion_version": champion_version if champion_version is not None else "shipped default",
        "review_threshold": candidate.review_threshold, "auto_merge_threshold": candidate.auto_merge_threshold,
    })
    for prefix, evaluation in (("", cand_eval), ("champion_", champ_eval)):
        if evaluation is None:
            continue
        registry.log_metric(run_id, f"{prefix}pr_auc", evaluation.pr_auc)
        registry.log_metric(run_id, f"{prefix}f1_at_review", evaluation.f1_at_review)
        for step, t in enumerate(LABEL_THRESHOLDS):
            precision, recall, f1 = evaluation.curve[t]
            registry.log_metric(run_id, f"{prefix}precision", precision, step)
            registry.log_metric(run_id, f"{prefix}recall", recall, step)
            registry.log_metric(run_id, f"{prefix}f1", f1, step)
    meta = {"trained_on_records": table_rows, "review_threshold": candidate.review_threshold,
            "auto_merge_threshold": candidate.auto_merge_threshold, "extras": [e.__dict__ for e in extras],
            "labels": len(labels), "evaluation": mode, "reranker": reranker.kind if reranker else None}
    registry.log_text(run_id, json.dumps(settings, ensure_ascii=False, indent=1), f"{MODEL_DIR}/settings.json")
    registry.log_text(run_id, json.dumps(meta, ensure_ascii=False, indent=1), f"{MODEL_DIR}/meta.json")
    if reranker is not None:
        registry.log_bytes(run_id, reranker.to_bytes(), f"{MODEL_DIR}/{RERANKER_FILE}")
    if cand_eval is not None:
        registry.log_text(run_id, _curve_csv(cand_eval, champ_eval), "evaluation/pr_curve.csv")
        registry.log_text(run_id, borderline, "evaluation/borderline_pairs.csv")
    chart = _match_weights_html(settings)
    if chart is None:
        notes.append("match-weights chart skipped: Splink could not render it offline")
    else:
        registry.log_text(run_id, chart, "charts/match_weights.html")
    if notes:
        registry.log_text(run_id, "\n".join(notes) + "\n", "notes.txt")


def pr_curve_png(labels: np.ndarray, candidate_p: np.ndarray, champion_p: np.ndarray, review: float, auto: float,
                 *, champion_label: str = "champion") -> bytes | None:
    """The precision-recall curves of the new model and the champion on the same held-out labels, as a PNG.

    The new model's review and auto-merge thresholds are marked on its curve. None when matplotlib
    is missing or the labels hold one class only (a chart is a nicety: a run must not fail for it).
    """
    if len(set(labels.tolist())) < 2:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display here; the headless backend draws to memory
        import matplotlib.pyplot as plt
        from sklearn.metrics import precision_recall_curve
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    try:
        for p, label, style in ((champion_p, champion_label, "--"), (candidate_p, "this version", "-")):
            precision, recall, _ = precision_recall_curve(labels, p)
            ax.plot(recall, precision, style, label=f"{label} (PR-AUC {pr_auc(labels.tolist(), p.tolist()):.3f})")
        for t, marker in ((review, "o"), (auto, "s")):
            s = label_scores(labels.tolist(), candidate_p.tolist(), t)
            ax.plot([s.recall], [s.precision], marker, color="black",
                    label=f"{'review' if t == review else 'auto-merge'} threshold {t:g}")
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02),
               title=f"held-out reviewer labels: {int(labels.sum())} duplicate, {int(len(labels) - labels.sum())} not")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()
    finally:
        plt.close(fig)


def _curve_csv(candidate: Evaluation, champion: Evaluation | None) -> str:
    out = io.StringIO()
    writer = csvsafe.writer(out, lineterminator="\n")
    writer.writerow(["threshold", "precision", "recall", "f1", "champion_precision", "champion_recall", "champion_f1"])
    for t in LABEL_THRESHOLDS:
        theirs = champion.curve[t] if champion else ("", "", "")
        writer.writerow([t, *(f"{v:.4f}" for v in candidate.curve[t]), *(
            f"{v:.4f}" if v != "" else "" for v in theirs)])
    return out.getvalue()


def _match_weights_html(settings: dict[str, Any]) -> str | None:
    """Splink's match-weights chart with its JavaScript inlined (splink5-notes 8), or None."""
    try:
        import pyarrow as pa
        from splink import DuckDBAPI, Linker

        # the chart reads only the settings, but a linker wants an input: an empty table will do
        empty = DuckDBAPI().register(pa.table({"unique_id": pa.array([], pa.string())}))
        linker = Linker(empty, dict(settings), log_level=logging.ERROR)
        return str(linker.visualisations.match_weights_chart().to_html(inline=True))
    except Exception as exc:  # a chart is a nicety: a run must not fail for it
        logger.info("match-weights chart skipped: %s", exc)
        return None
