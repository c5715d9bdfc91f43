"""Incremental scans give exactly what a full scan of the same base gives, and fall back to one when they cannot.

Each test scans a base fully, changes some records, scans incrementally, then scans fully again on the same
store: the full scan keeps the group ids of groups whose members did not change, so equal outcomes mean the
incremental scan stored exactly the pairs and groups a full scan makes.
"""

import json
import math
import random
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resolver.evidence
import resolver.linkage
from resolver.entities import spec_for
from resolver.incremental import _Pruning, _scored_table, _scoring_rows, incremental_scan
from resolver.linkage import tf_columns, tf_value
from resolver.pruning import scorer_for
from resolver.records import Record
from resolver.scan import ingest, scan
from resolver.store import Store
from tests.resolver.golden_scan import FIXTURE, outcome, records

pytestmark = pytest.mark.both_stores

ACCOUNT = "golden"


def _base(n=400):
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return records(data["records"]["contact"][:n], "contact")


_BASE = _base()
_LATER = datetime.now(UTC) + timedelta(minutes=1)  # newer than any stored update: the change wins


def _changed(r: Record, **kw) -> Record:
    return replace(r, updated_at=_LATER, **kw)


def _export(store):
    return sorted((r["group_id"], r["record_id"], tuple(r["review_reasons"] or ()), r["is_survivor"])
                  for r in store.groups_export(ACCOUNT, "contact"))


def _same_as_full(store, model):
    got, got_rows = outcome(store, "contact", ACCOUNT), _export(store)
    scan(store, account_id=ACCOUNT, model=model)
    want = outcome(store, "contact", ACCOUNT)
    assert got["pairs"] == want["pairs"]
    assert got["groups"] == want["groups"]
    assert got_rows == _export(store)  # review reasons too: the same trees


def _check_mode(result, n_changed):
    # contacts' evidence rules (resolver/evidence.py) are weighed with counts over the whole base here too
    assert (result.mode, result.fallback, result.n_changed) == ("incremental", None, n_changed)


def _setup(store, model, base=_BASE):
    ingest(store, account_id=ACCOUNT, entity="contact", records=base)
    scan(store, account_id=ACCOUNT, model=model)


def test_changed_phones_and_names_give_the_full_scan(store, default_models, monkeypatch):
    monkeypatch.setattr(resolver.linkage, "ROUND_BASE_FROM", 50)  # see test_new_and_deleted_records_...
    model = default_models["contact"]
    _setup(store, model)
    b = _BASE
    changes = [
        _changed(b[0], phones=b[1].phones),  # now shares a phone with another record
        _changed(b[2], name=b[3].name, emails=b[3].emails),  # becomes a copy of another
        _changed(b[4], phones=(), emails=()),  # loses its identifiers
        _changed(b[5], name="Совсем Другое Имя"),
    ]
    ingest(store, account_id=ACCOUNT, entity="contact", records=changes)
    _check_mode(incremental_scan(store, account_id=ACCOUNT, model=model), 4)
    _same_as_full(store, model)


def test_nothing_changed_keeps_everything(store, default_models):
    model = default_models["contact"]
    _setup(store, model)
    before = outcome(store, "contact", ACCOUNT)
    result = incremental_scan(store, account_id=ACCOUNT, model=model)
    assert (result.mode, result.n_changed, result.n_rescored) == ("incremental", 0, 0)
    assert outcome(store, "contact", ACCOUNT) == before


def test_new_and_deleted_records_within_the_rounded_base_size(store, default_models, monkeypatch):
    # the base size and name counts are rounded from ROUND_BASE_FROM records on; lowered here so that
    # a test-sized base adds records without moving them
    monkeypatch.setattr(resolver.linkage, "ROUND_BASE_FROM", 50)
    model = default_models["contact"]
    _setup(store, model)
    new = [Record("contact", "900001", name=_BASE[7].name, phones=_BASE[7].phones, updated_at=_LATER)]
    ingest(store, account_id=ACCOUNT, entity="contact", records=new)
    store.mark_deleted(ACCOUNT, "contact", _BASE[6].record_id)
    _check_mode(incremental_scan(store, account_id=ACCOUNT, model=model), 2)
    _same_as_full(store, model)
    assert any("900001" in g[1] for g in outcome(store, "contact", ACCOUNT)["groups"])


def test_falls_back_to_a_full_scan_and_says_why(store, default_models):
    model = default_models["contact"]
    ingest(store, account_id=ACCOUNT, entity="contact", records=_BASE)
    first = incremental_scan(store, account_id=ACCOUNT, model=model)
    assert (first.mode, first.fallback) == ("full", "no earlier scan to build on")

    other = replace(model, review_threshold=model.review_threshold + 0.01)
    assert "model changed" in incremental_scan(store, account_id=ACCOUNT, model=other).fallback
    assert "model changed" in incremental_scan(store, account_id=ACCOUNT, model=model).fallback

    many = [_changed(r, name=f"Имя{i} Фамилия") for i, r in enumerate(_BASE[:120])]
    ingest(store, account_id=ACCOUNT, entity="contact", records=many)
    result = incremental_scan(store, account_id=ACCOUNT, model=model)
    assert result.mode == "full" and "more than 20%" in result.fallback

    ingest(store, account_id=ACCOUNT, entity="contact", records=[Record("contact", "900002", name="Новый Человек")])
    result = incremental_scan(store, account_id=ACCOUNT, model=model)
    assert result.mode == "full" and "drift" in result.fallback  # below ROUND_BASE_FROM every size counts
    _same_as_full(store, model)


_FIRST = ["Анна", "Борис", "Вера", "Глеб", "Дина", "Егор", "Жанна", "Зоя", "Илья", "Кира", "Лев", "Мира", "Нина",
          "Олег", "Пётр", "Рита", "Семён", "Тая", "Ульяна", "Фёдор"]


_NAMESAKE = "Кржижановский Иван Петрович"


def _staff(k: int) -> list[Record]:
    """A rare name twice at one company (a new phone, no email on one side) and k colleagues of other names."""
    company = "ООО Ромашка"
    out = [Record("contact", "700001", name=_NAMESAKE, phones=("+7 916 100-00-01",),
                  emails=("ivan.k@romashka.ru",), company_name=company),
           Record("contact", "700002", name=_NAMESAKE, phones=("+7 916 100-00-02",), company_name=company)]
    out += [Record("contact", f"70100{i:02d}", name=f"{_FIRST[i]} Сидорова", phones=(f"+7 916 200-00-{i:02d}",),
                   company_name=company) for i in range(k)]
    return out


def _paired(store) -> float | None:
    """The namesakes' stored probability (None: not stored)."""
    return next((p[2] for p in outcome(store, "contact", ACCOUNT)["pairs"] if p[:2] == ["700001", "700002"]), None)


def test_a_new_colleague_or_namesake_weighs_the_new_phone_again(store, default_models, monkeypatch):
    # the new-phone rule (resolver/evidence.py) weighs a pair of namesakes at one company with the company's
    # staff and the name's share of the base: changes to other records move both
    monkeypatch.setattr(resolver.linkage, "ROUND_BASE_FROM", 50)
    model = default_models["contact"]
    base = [*_BASE[:150], *_staff(19)]  # 20 names at the company: the largest small one
    _setup(store, model, base)
    rescued = _paired(store)
    assert rescued is not None
    # an existing record joins the company: 21 names, a large employer, namesakes likely
    ingest(store, account_id=ACCOUNT, entity="contact",
           records=[_changed(_BASE[0], company_name="ООО Ромашка", name="Яна Новая")])
    _check_mode(incremental_scan(store, account_id=ACCOUNT, model=model), 1)
    assert _paired(store) != rescued
    _same_as_full(store, model)
    # and leaves it again
    ingest(store, account_id=ACCOUNT, entity="contact",
           records=[replace(_BASE[0], updated_at=_LATER + timedelta(seconds=1))])
    _check_mode(incremental_scan(store, account_id=ACCOUNT, model=model), 1)
    assert _paired(store) == rescued
    _same_as_full(store, model)

    # the name's share: from 50 records on (lowered here) the base size divides the name's count
    monkeypatch.setattr(resolver.evidence, "NAME_BASE_MIN", 50)
    ingest(store, account_id=ACCOUNT, entity="contact", records=[_changed(r, company_name="ООО Другая")
                                                                 for r in base[152:168]])
    scan(store, account_id=ACCOUNT, model=model)
    assert _paired(store) == rescued  # 2 of 171 records, 4 names at the company: 2 / 171 * 4 <= 0.05
    ingest(store, account_id=ACCOUNT, entity="contact",
           records=[replace(_BASE[1], name=_NAMESAKE, updated_at=_LATER + timedelta(seconds=2))])  # a third one
    _check_mode(incremental_scan(store, account_id=ACCOUNT, model=model), 1)
    assert _paired(store) != rescued  # 3 / 171 * 4 > 0.05
    _same_as_full(store, model)


def test_companies_scan_fully_for_now(store, default_models):
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    model = default_models["company"]
    ingest(store, account_id=ACCOUNT, entity="company", records=records(data["records"]["company"][:100], "company"))
    scan(store, account_id=ACCOUNT, model=model)
    result = incremental_scan(store, account_id=ACCOUNT, model=model)
    assert result.mode == "full" and "evidence" in result.fallback


_SMALL = _BASE[:150]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12))
def test_random_changes_give_the_full_scan(tmp_path_factory, default_models, monkeypatch, seed, n):
    # on the DuckDB store (the other tests run on both): the property is the scan's, not the store's
    monkeypatch.setattr(resolver.linkage, "ROUND_BASE_FROM", 50)
    model = default_models["contact"]
    rng = random.Random(seed)
    with Store(tmp_path_factory.mktemp("inc") / "s.duckdb") as store:
        _setup(store, model, _SMALL)
        changes, deleted = [], set()
        for k in range(n):
            r, donor = rng.choice(_SMALL), rng.choice(_SMALL)
            kind = rng.randrange(6)
            if kind == 0:
                changes.append(_changed(r, phones=donor.phones))
            elif kind == 1:
                changes.append(_changed(r, emails=donor.emails, name=donor.name))
            elif kind == 2:
                changes.append(_changed(r, name=donor.name))
            elif kind == 3:
                deleted.add(r.record_id)
            elif kind == 4:  # another employer: its staff and the namesakes at it move (the new-phone rule)
                changes.append(_changed(r, company_name=donor.company_name, name=donor.name if k % 2 else r.name))
            else:
                changes.append(Record("contact", f"8{k:05d}", name=donor.name, phones=donor.phones[:1],
                                      emails=donor.emails, company_name=donor.company_name, updated_at=_LATER))
        ingest(store, account_id=ACCOUNT, entity="contact", records=changes)
        for rid in sorted(deleted):
            store.mark_deleted(ACCOUNT, "contact", rid)
        incremental_scan(store, account_id=ACCOUNT, model=model)  # incremental or (drift) full: equal either way
        _same_as_full(store, model)


def test_pruned_candidates_keep_every_pair_that_can_reach_the_threshold(store, default_models, monkeypatch):
    # the candidate query leaves out pairs by their cheap comparison states (resolver/pruning.py's bound):
    # every pair it leaves out, scored exactly, stays below the review threshold (the floor for one name at
    # one company); also with a name's own frequency as the bound (a rarer name's holders)
    monkeypatch.setattr(resolver.linkage, "ROUND_BASE_FROM", 50)
    model = default_models["contact"]
    spec = spec_for("contact")
    _setup(store, model)
    totals = {col: store.value_totals(ACCOUNT, "contact", col, [])[1] for col in tf_columns(model.settings)}
    settings = model.settings_for_base(len(_BASE))
    floor = min(model.review_threshold, spec.prediction_floor)
    pruning = _Pruning(settings, model.review_threshold, floor,
                       {col: tf_value(1, n) for col, n in totals.items()}, spec)
    assert pruning.pruned and pruning.tf_column == "name_norm"
    live = store.live_rows(ACCOUNT, spec, [r.record_id for r in _BASE])
    common, n = next((name, n) for name, n in Counter(r["name_norm"] for r in live).most_common() if name)
    holders = sorted(r["unique_id"] for r in live if r["name_norm"] == common)
    bound = pruning.bound(math.floor(math.log2(tf_value(n, totals["name_norm"]))))
    changed = [r.record_id for r in _BASE[:80]]
    groups = [(holders, True, bound), ([r.record_id for r in _BASE[200:260]], True, 0)]

    def candidates(prune):
        found = store.candidate_pairs(ACCOUNT, "contact", changed, groups, kept_keys=pruning.kept_keys if prune else [],
                                      code=pruning.code if prune else "0", pruned=pruning.pruned if prune else [])
        return {(a, b) for a, b, _ in found}

    kept, every = candidates(True), candidates(False)
    assert kept < every  # something was left out
    ids = sorted({i for pair in every for i in pair})
    rows, tf = _scoring_rows(store, ACCOUNT, model, spec, ids, totals)
    reaching = _scored_table(scorer_for(settings), model, rows, sorted(every), tf,
                             (model.review_threshold, floor), spec)
    pairs = set(zip(reaching.column("left_id").to_pylist(), reaching.column("right_id").to_pylist(), strict=True))
    assert pairs and pairs <= kept

