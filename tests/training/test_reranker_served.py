"""The champion's re-ranker at work in the scan and the check: what reviewers taught about some clusters
holds for clusters nobody labeled, and the scan and the check agree pair by pair."""

from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest

from resolver.candidates import Checker
from resolver.entities import spec_for
from resolver.evidence import guard_pairs
from resolver.explain import REVIEWERS_FIELD
from resolver.features import rerank
from resolver.ingest import read_amocrm
from resolver.linkage import load_model, predict_pairs
from resolver.scan import apply_reranker, ingest, scan
from resolver.store import Store
from training.evaluate import hard_negative_clusters, reviewer_decisions
from training.registry import Registry
from training.retrain import retrain
from training.synthetic import generate_contacts


@pytest.mark.parametrize(("splink", "reranker", "expected"), [
    (0.97, 0.9, 0.97),   # the re-ranker agrees: Splink's probability stands, no cap below it
    (0.97, 0.5, 0.97),   # even odds still leave it alone
    (0.97, 0.25, 0.485),  # half of even odds: half the probability
    (0.97, 0.05, 0.097),  # a confident "not a duplicate" pulls the pair far below any threshold
    (0.3, 0.99, 0.3),    # never raised, however sure the re-ranker is
], ids=["agrees", "even-odds", "doubts", "rejects", "never-raises"])
def test_rerank_scales_splink_down_by_the_doubt(splink, reranker, expected):
    assert rerank(np.array([splink]), np.array([reranker]))[0] == pytest.approx(expected)


@pytest.fixture(scope="module")
def taught(tmp_path_factory):
    """12,000 contacts with namesake relatives; reviewers labeled every other hard-negative cluster.

    Yields (store, shipped model, champion with its re-ranker, the unseen relatives' pairs).
    """
    tmp = tmp_path_factory.mktemp("served")
    synthetic = generate_contacts(12_000, seed=21, relatives=True)
    store = Store(tmp / "store.duckdb")
    ingest(store, account_id="acme", entity="contact", records=read_amocrm(synthetic.entities, "contact"))
    clusters = hard_negative_clusters(synthetic.hard_negatives)
    keys = sorted(clusters)
    store.add_decisions("acme", reviewer_decisions(synthetic.truth, synthetic.hard_negatives, clusters=keys[0::2],
                                                   positives=250))
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    shipped = load_model("contact")
    retrain(store, "acme", "contact", tracking_uri=uri, default=shipped)
    registry = Registry(uri)
    champion = registry.load("acme", "contact", registry.champion_info("acme", "contact")).model
    unseen = [tuple(sorted(clusters[k])) for k in keys[1::2] if k.startswith("relatives:")]
    yield store, shipped, champion, unseen
    store.close()


def _grouped(store, model) -> set[tuple[str, str]]:
    scan(store, account_id="acme", model=model)
    out = set()
    for g in store.groups_page("acme", entity="contact", limit=10_000):
        out |= set(combinations(sorted(g["record_ids"]), 2))
    return out


def test_the_champion_carries_a_reranker(taught):
    _, _, champion, unseen = taught
    assert champion.reranker is not None
    assert len(unseen) >= 5  # enough unseen relatives for the comparison below to mean something


def test_scan_separates_unseen_relatives_the_shipped_model_merges(taught):
    store, shipped, champion, unseen = taught
    before = _grouped(store, shipped) & set(unseen)
    after = _grouped(store, champion) & set(unseen)
    assert len(before) >= len(unseen) // 2  # the shipped model merges most of them
    assert len(after) <= len(before) // 2  # reviewers' lesson on other families carries over


def test_check_gives_the_scan_its_final_pairs_with_the_reviewers_term(taught):
    store, _, champion, _ = taught
    table = store.scan_input("acme", spec_for("contact"))
    low = replace(champion, review_threshold=0.2)
    # as the scan scores them: Splink, then conflicts (resolver/evidence.py), then the re-ranker
    guarded = guard_pairs(table, predict_pairs(table, low, threshold=0.01), spec_for("contact"), threshold=0.2,
                          comparisons=low.comparison_names)
    pairs = apply_reranker(table, guarded, low).to_pylist()
    assert pairs, "no pairs to compare"
    checker = Checker(store, {"contact": champion})
    separated, _ = store.links_in_force("acme", "contact")
    adjusted = 0
    for row in pairs[:300]:
        if (row["left_id"], row["right_id"]) in separated:
            continue
        found = checker.duplicates_of("acme", "contact", row["left_id"], threshold=0.2, limit=500, model=champion)
        match = next(m for m in found if m.record_id == row["right_id"])
        assert match.match_probability == pytest.approx(row["match_probability"], abs=1e-9)
        reviewers = [c for c in match.contributions if c.field == REVIEWERS_FIELD]
        assert bool(reviewers) == (row["reviewers_weight"] != 0.0)
        adjusted += bool(reviewers)
    assert adjusted > 0  # some pairs were doubted by the re-ranker, and both paths say so alike


def test_check_no_longer_offers_an_unseen_relative(taught):
    store, shipped, champion, unseen = taught
    checker = Checker(store, {"contact": shipped})
    offered = {name: sum(1 for a, b in unseen
                         if b in {m.record_id for m in checker.duplicates_of("acme", "contact", a, model=model) or []})
               for name, model in (("shipped", shipped), ("champion", champion))}
    assert offered["shipped"] >= len(unseen) // 2
    assert offered["champion"] <= offered["shipped"] // 2
