"""The real-time check: one record against an account's stored base, answered from a key index.

Candidates are the records sharing a blocking key with the probe (the same values the scan's
blocking rules join on), so a check finds what a whole-base scan would pair the record with,
without scanning the base. Candidates and the probe get the scan's frequency columns (how
many names carry each phone and email) and are scored in Python by `PairScorer`, which gives
Splink's own numbers; a model with a re-ranker then has it applied as the scan applies it.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from resolver.entities import FEW_MAX, RARE_MAX, EntitySpec, spec_for
from resolver.evidence import adjust_evidence, name_base
from resolver.explain import EVIDENCE_FIELD, reviewers_contribution
from resolver.features import FeatureSpace, rerank
from resolver.linkage import Model
from resolver.records import Entity, FieldContribution, Record
from resolver.scoring import PairScorer, probability
from resolver.store.interface import Persistence

_K = TypeVar("_K")
_V = TypeVar("_V")

# A key shared by more records than this (a call centre's number) counts as common and yields only
# that many candidates; a probe is compared with at most MAX_CANDIDATES records in all
MAX_PER_KEY = 200
MAX_CANDIDATES = 500


@dataclass(frozen=True)
class Match:
    """A stored record the probe may duplicate, with its score and explanation."""

    record_id: str
    match_probability: float
    match_weight: float
    contributions: tuple[FieldContribution, ...]


class _Snapshot:
    """An account's live records of one entity in memory: normalized rows and the key index.

    Point lookups in DuckDB cost about a millisecond per row (list columns), and a common name
    key holds hundreds of records at 318,000; in memory the check reads them in microseconds.
    Kept fresh by reading the rows written since the last look (`ingested_at`, which every write
    of a record sets).
    """

    def __init__(self, spec: EntitySpec, tf_columns: Collection[str]) -> None:
        self.spec = spec
        self.rows: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, set[str]] = {}
        self.tf_columns = tuple(tf_columns)
        self.tf: dict[str, Counter[Any]] = {c: Counter() for c in self.tf_columns}
        self.tf_total: Counter[str] = Counter()  # non-null values per column
        self.seen: Any = None  # the newest ingested_at applied
        # names per value of the columns resolver/evidence.py counts over the whole base and no key
        # finds (a contact's employer: its staff, for the new-phone rule), and records per name
        self.staff_columns = () if spec.discount_common_values else tuple(
            c for cols in spec.shared_values.values() for c in cols if c not in spec.frequency_columns)
        self.carriers: dict[Any, Counter[str]] = {}
        self.names: Counter[Any] = Counter()
        self.version: int | None = None  # the store's records_version when last brought up to date

    def apply(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            record_id = row["unique_id"]
            self._remove(record_id)
            if not row.pop("deleted") and row.pop("merged_into") is None:
                self.rows[record_id] = row
                for key in _keys(self.spec, row):
                    self.keys.setdefault(key, set()).add(record_id)
                for col in self.tf_columns:
                    if row.get(col) is not None:
                        self.tf[col][row[col]] += 1
                        self.tf_total[col] += 1
                self._count(row, 1)
            stamp = row.pop("ingested_at", None)
            if stamp is not None and (self.seen is None or stamp > self.seen):
                self.seen = stamp

    def _remove(self, record_id: str) -> None:
        old = self.rows.pop(record_id, None)
        if old is None:
            return
        for key in _keys(self.spec, old):
            ids = self.keys.get(key)
            if ids is not None:
                ids.discard(record_id)
                if not ids:
                    del self.keys[key]
        for col in self.tf_columns:
            if old.get(col) is not None:
                self.tf[col][old[col]] -= 1
                self.tf_total[col] -= 1
        self._count(old, -1)

    def _count(self, row: dict[str, Any], step: int) -> None:
        if not self.staff_columns:
            return
        name = row.get(self.spec.name_column)
        if name is not None:
            self.names[name] += step
        who = name if name is not None else f"\0{row['unique_id']}"
        for col in self.staff_columns:
            value = row.get(col)
            if value is None:
                continue
            carriers = self.carriers.setdefault(value, Counter())
            carriers[who] += step
            if carriers[who] <= 0:
                del carriers[who]
                if not carriers:
                    del self.carriers[value]

    def names_carrying(self, value: Any, probe: dict[str, Any], *, stored: bool) -> int:
        """Names carrying `value` over the base, the probe counted as the scan would count it."""
        carriers = self.carriers.get(value, Counter())
        if stored:  # the probe's own row is counted already
            return len(carriers)
        name = probe.get(self.spec.name_column)
        who = name if name is not None else f"\0{probe.get('unique_id')}"
        carries = any(probe.get(c) == value for c in self.staff_columns)
        return len(carriers) + (1 if carries and who not in carriers else 0)

    def name_share(self, name: Any, probe: dict[str, Any], *, stored: bool) -> float:
        """The share of the base's records named `name`, the probe counted as the scan would count it."""
        extra = 0 if stored else 1
        own = extra if probe.get(self.spec.name_column) == name else 0
        return (self.names[name] + own) / name_base(len(self.rows) + extra)


class Checker:
    """Scores records against the stored base of each account, for one model per entity."""

    def __init__(self, store: Persistence, models: dict[Entity, Model]) -> None:
        self._store = store
        self._models = dict(models)
        # Two levels of locks, so one account never waits on another: `_lock` guards only the dicts
        # below and is held for lookups (never for a store read or for scoring); each (account, entity)
        # snapshot has its own lock, held while it is refreshed and read, so a 10 s first load of one
        # account's base holds up that account's checks alone. Scorers and feature spaces are
        # read-only once built, so checks of different accounts share them without a lock.
        self._lock = threading.Lock()
        self._snapshot_locks: dict[tuple[str, Entity], threading.Lock] = {}
        self._snapshots: dict[tuple[str, Entity], _Snapshot] = {}
        self._scorers: dict[tuple[str, int], PairScorer] = {}
        self._spaces: dict[str, FeatureSpace] = {}  # re-ranker feature names per model version
        self._stop_warming = threading.Event()

    def set_model(self, model: Model) -> None:
        """Use another model for its entity from the next check on (thresholds, retrained weights)."""
        with self._lock:
            self._models[model.entity] = model

    def model(self, entity: Entity) -> Model:
        with self._lock:
            return self._models[entity]

    # -- public ---------------------------------------------------------------------------------

    def warm(self, account_ids: Collection[str]) -> None:
        """Load the given accounts' records now, so their first check does not wait (10 s at 318k)."""
        self._stop_warming.clear()
        for account_id in account_ids:
            for entity in tuple(self._models):  # set_model may run meanwhile
                if self._stop_warming.is_set():
                    return
                spec = spec_for(entity)
                with self._snapshot_lock(account_id, spec.entity):
                    self._snapshot(account_id, spec)

    def stop_warming(self) -> None:
        """Make a running `warm` return after the account it is loading."""
        self._stop_warming.set()

    def check(self, account_id: str, record: Record, *, threshold: float | None = None, limit: int = 10,
              exclude: Collection[str] = (), model: Model | None = None) -> list[Match]:
        """Stored records that `record` (not yet saved) may duplicate, best first, above `threshold`.

        A probe with an id never gets the records a reviewer separated from that id.
        """
        spec = spec_for(record.entity)
        probe = dict(spec.normalize(record), unique_id=record.record_id or "")
        leave_out = set(exclude)
        if record.record_id:
            leave_out |= {record.record_id, *self._store.separated_from(account_id, record.entity, record.record_id)}
        with self._snapshot_lock(account_id, spec.entity):
            snap = self._snapshot(account_id, spec)
            return self._match(snap, probe, stored=False, threshold=threshold, limit=limit, exclude=leave_out,
                               model=model)

    def check_in_memory(self, account_id: str, record: Record, *, threshold: float | None = None, limit: int = 10,
                        model: Model | None = None) -> list[Match] | None:
        """`check` of an unsaved record (no id) when it needs no store read; None when it does (call `check`).

        It does not when the account's records are loaded and current (the store's `records_version` has not
        moved since) and no other thread is refreshing them: then it is a millisecond or two of pure Python,
        which the API runs on its event loop rather than paying a thread hop for it.
        """
        if record.record_id:
            return None  # the records a reviewer separated from it are a store read
        spec = spec_for(record.entity)
        with self._lock:
            snap = self._snapshots.get((account_id, spec.entity))
        version = self._store.records_version(account_id, spec.entity)
        if snap is None or version is None or snap.version != version:
            return None
        lock = self._snapshot_lock(account_id, spec.entity)
        if not lock.acquire(blocking=False):  # being refreshed: never wait on the event loop
            return None
        try:
            if snap.version != version:
                return None
            probe = dict(spec.normalize(record), unique_id="")
            return self._match(snap, probe, stored=False, threshold=threshold, limit=limit, exclude=(), model=model)
        finally:
            lock.release()

    def duplicates_of(self, account_id: str, entity: Entity, record_id: str, *, threshold: float | None = None,
                      limit: int = 10, exclude: Collection[str] = (), model: Model | None = None
                      ) -> list[Match] | None:
        """Stored records that stored record `record_id` may duplicate; None if it is not stored.

        Records a reviewer separated from it never appear.
        """
        spec = spec_for(entity)
        separated = self._store.separated_from(account_id, entity, record_id)
        with self._snapshot_lock(account_id, spec.entity):
            snap = self._snapshot(account_id, spec)
            row = snap.rows.get(record_id)
            if row is None:
                return None
            return self._match(snap, dict(row), stored=True, threshold=threshold, limit=limit, model=model,
                               exclude={*exclude, record_id, *separated})

    # -- steps ----------------------------------------------------------------------------------

    def _snapshot_lock(self, account_id: str, entity: Entity) -> threading.Lock:
        """The lock of one account's snapshot of one entity (made on first use)."""
        with self._lock:
            lock = self._snapshot_locks.get((account_id, entity))
            if lock is None:
                lock = self._snapshot_locks[(account_id, entity)] = threading.Lock()
            return lock

    def _snapshot(self, account_id: str, spec: EntitySpec) -> _Snapshot:
        """The account's snapshot, brought up to date; the caller holds its `_snapshot_lock`."""
        key = (account_id, spec.entity)
        with self._lock:
            snap = self._snapshots.get(key)
            model = self._models[spec.entity]
        if snap is None:
            snap = _Snapshot(spec, self._scorer(model, 1000).tf_columns)
            with self._lock:
                self._snapshots[key] = snap
        # read before the rows: a write committing meanwhile moves it again, so it is read next time
        version = self._store.records_version(account_id, spec.entity)
        if version is None or version != snap.version:  # None: other processes write too; always ask
            snap.apply(self._store.records_changed_since(account_id, spec, snap.seen))
            snap.version = version
        return snap

    def _match(self, snap: _Snapshot, probe: dict[str, Any], *, stored: bool, threshold: float | None,
               limit: int, exclude: Collection[str], model: Model | None = None) -> list[Match]:
        spec = snap.spec
        model = model or self.model(spec.entity)  # the account's champion when the caller knows it
        keys = _keys(spec, probe)
        ids_by_key = {key: sorted(snap.keys.get(key, ()))[: MAX_PER_KEY + 1] for key in keys}
        ids = sorted({i for ids in ids_by_key.values() for i in ids})[:MAX_CANDIDATES]
        # the snapshot's own dicts: `_add_frequency_columns` copies the few it writes to (most candidates of a
        # common name share no phone or email with the probe, and copying 500 rows was a fifth of a check)
        rows = {i: snap.rows[i] for i in ids}
        sharing = _add_frequency_columns(spec, probe, rows, ids_by_key, stored=stored)
        candidates = [r for r in rows.values() if r["unique_id"] not in exclude]
        if not candidates:
            return []
        n = len(snap.rows) + (0 if stored else 1)
        scorer = self._scorer(model, n)
        extra = 0 if stored else 1  # as if the probe were in the base, as the scan would see it
        tf = {}
        for col in scorer.tf_columns:
            value, counts = probe.get(col), snap.tf.get(col, Counter())
            if value is not None:
                tf[col] = {value: (counts[value] + extra) / max(snap.tf_total[col] + extra, 1)}
        floor = model.review_threshold if threshold is None else threshold
        # early cut: a candidate whose Splink weight cannot reach the cut leaves after the comparisons that
        # tell; the evidence term below lowers a weight except for the new-phone rescue, which only sees
        # pairs above the entity's prediction floor (as the scan predicts them)
        cut = min(floor, spec.prediction_floor) if spec.prediction_floor else floor
        floor_weight = math.log2(cut / (1 - cut)) - 1e-6 if 0 < cut < 1 else -math.inf
        bounds = scorer.bounds(tf)
        out = []
        for cand in candidates:
            scored = scorer.score_at_least(probe, cand, tf, floor_weight, bounds)
            if scored is None:
                continue
            weight, contributions = scored
            if spec.conflict is not None:  # conflicts and common values, as the scan weighs them
                delta, reason = adjust_evidence(
                    spec, probe, cand, {c.field: c.match_weight for c in contributions},
                    lambda v: max(_names_carrying(spec, v, probe, rows, ids_by_key, sharing),
                                  float(snap.names_carrying(v, probe, stored=stored))),
                    lambda v: snap.name_share(v, probe, stored=stored))
                if delta:
                    weight += delta
                    contributions = [*contributions, FieldContribution(EVIDENCE_FIELD, reason or "", -1,
                                                                       round(delta, 3))]
            p = probability(weight)
            if p >= floor:
                out.append(Match(cand["unique_id"], p, weight, tuple(contributions)))
        if model.reranker is not None and out:
            out = self._rerank(model, spec, probe, rows, out, sharing, floor)
        out.sort(key=lambda m: (-m.match_weight, m.record_id))
        return out[:limit]

    def _rerank(self, model: Model, spec: EntitySpec, probe: dict[str, Any], rows: dict[str, dict[str, Any]],
                matches: list[Match], sharing: dict[str, float], floor: float) -> list[Match]:
        """The matches with the model's re-ranker applied as the scan applies it; those below `floor` leave."""
        reranker = model.reranker
        assert reranker is not None
        space = self._cached(self._spaces, model.version, lambda: FeatureSpace(model, spec))
        if not space.fits(reranker):
            return matches
        # values the candidates' keys could not count fully are common: as many names as a key may hold
        def names_sharing(col: str, value: Any) -> float:
            return min(sharing.get(f"{col}:{value}", 1.0), MAX_PER_KEY + 1.0)

        # the re-ranker reads Splink's weight, as the scan's FeatureBuilder gives it: without the evidence term
        matrix = np.vstack([space.row(probe, rows[m.record_id], m.match_weight - _evidence_weight(m),
                                      m.contributions, names_sharing) for m in matches])
        splink_p = np.array([m.match_probability for m in matches])
        final = rerank(splink_p, reranker.predict(matrix))
        out = []
        for m, before, after in zip(matches, splink_p.tolist(), final.tolist(), strict=True):
            if after < floor:
                continue
            extra = reviewers_contribution(before, after)
            if not extra.match_weight:  # the re-ranker agreed: nothing to explain, as in the scan
                out.append(m)
                continue
            out.append(Match(m.record_id, after, m.match_weight + extra.match_weight, (*m.contributions, extra)))
        return out

    def _scorer(self, model: Model, n: int) -> PairScorer:
        # the base size moves the prior; two significant digits of it are plenty for the weights
        rounded = int(float(f"{max(n, 2):.2g}"))
        key = (model.version + repr(model.settings.get("probability_two_random_records_match")), rounded)
        return self._cached(self._scorers, key, lambda: PairScorer(model.settings_for_base(rounded)))

    def _cached(self, cache: dict[_K, _V], key: _K, build: Callable[[], _V]) -> _V:
        """`cache[key]`, built on a miss outside `_lock` (a scorer parses Splink settings): two checks
        may both build it, the same value either way, and the first one stored is kept."""
        with self._lock:
            value = cache.get(key)
        if value is None:
            value = build()
            with self._lock:
                value = cache.setdefault(key, value)
        return value


def _add_frequency_columns(spec: EntitySpec, probe: dict[str, Any], rows: dict[str, dict[str, Any]],
                           ids_by_key: dict[str, list[str]], *, stored: bool) -> dict[str, float]:
    """`<col>_rare` / `<col>_few` as the scan computes them, by the names that carry each value.

    Returns the counts: "<col>:<value>" -> how many names carry the probe's value (inf: common).

    Only values the probe shares with a candidate can meet in an intersection level, and the
    records carrying such a value are exactly the candidates found by its key; so the counts come
    from the rows at hand. A key with more records than MAX_PER_KEY is common by definition.
    """
    own_name = probe.get(spec.name_column)
    counts: dict[str, float] = {}
    for col in spec.frequency_columns:
        for v in probe.get(col) or []:
            key = f"{col}:{v}"
            ids = ids_by_key.get(key, [])
            if len(ids) > MAX_PER_KEY:
                counts[key] = math.inf
                continue
            names = {rows[i][spec.name_column] for i in ids if i in rows and rows[i][spec.name_column] is not None}
            if not stored and own_name is not None:
                names.add(own_name)  # the scan would count the probe too
            counts[key] = len(names)
    copied: set[str] = set()
    for col in spec.frequency_columns:
        # `counts` holds the probe's values only: a row's other values never meet the probe's
        known = {v: counts[f"{col}:{v}"] for v in probe.get(col) or []}
        rare_column, few_column = f"{col}_rare", f"{col}_few"
        probe[rare_column] = [v for v in probe.get(col) or () if known[v] <= RARE_MAX] or None
        probe[few_column] = [v for v in probe.get(col) or () if known[v] <= FEW_MAX] or None
        if not known:
            continue
        if col in spec.key_columns:  # only the records its key found can carry a value few names share
            holders: Collection[str] = {i for v, n in known.items() if n <= FEW_MAX
                                        for i in ids_by_key.get(f"{col}:{v}", ()) if i in rows}
        else:
            holders = rows.keys()
        for i in holders:
            r = rows[i]
            values = [v for v in (r.get(col) or ()) if v in known]
            if not values:  # both columns None: a stored row lacks them, which reads the same (`.get`)
                continue
            if i not in copied:  # the row is the snapshot's: write to a copy
                r = rows[i] = dict(r)
                copied.add(i)
            r[rare_column] = [v for v in values if known[v] <= RARE_MAX] or None
            r[few_column] = [v for v in values if known[v] <= FEW_MAX] or None
    return counts


def _evidence_weight(match: Match) -> float:
    return sum(c.match_weight for c in match.contributions if c.field == EVIDENCE_FIELD)


def _names_carrying(spec: EntitySpec, value: str, probe: dict[str, Any], rows: dict[str, dict[str, Any]],
                    ids_by_key: dict[str, list[str]], sharing: dict[str, float]) -> float:
    """How many names carry a value the probe shares, from the candidates at hand (resolver/evidence.py).

    Phones and emails are counted by `_add_frequency_columns`; a site or mail domain by the records
    its key found (the candidates) and the probe. A key with more records than MAX_PER_KEY is common.
    """
    counted = [sharing[f"{col}:{value}"] for col in spec.frequency_columns if f"{col}:{value}" in sharing]
    if len(ids_by_key.get(f"domain:{value}", ())) > MAX_PER_KEY:
        return math.inf
    columns = {c for cols in spec.shared_values.values() for c in cols}
    names = set()
    for r in (probe, *rows.values()):
        if any(value == r.get(c) or (isinstance(r.get(c), list) and value in r[c]) for c in columns):
            names.add(r.get(spec.name_column) or f"\0{r.get('unique_id')}")
    return max([float(len(names)), *counted])


def _keys(spec: EntitySpec, row: dict[str, Any]) -> list[str]:
    keys: list[str] = []
    for col in spec.key_columns:
        value = row.get(col)
        values: Sequence[Any] = value if isinstance(value, list) else [value]
        keys.extend(f"{col}:{v}" for v in values if v is not None)
    return keys
