"""Training without labels (EM) on a file that lacks a field a training rule blocks on."""

import logging

from resolver.entities import spec_for
from resolver.linkage import train_settings
from resolver.records import Record
from resolver.scan import ingest
from resolver.store import Store

WORDS = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "lambda", "theta", "zeta", "iota", "rho"]


def firms_without_inn(n_entities=200):
    """Two records per firm (the name in two cases, one phone); no INN anywhere, so EM on INN finds no pair."""
    out = []
    for e in range(n_entities):
        name = f"{WORDS[e % 12]} {WORDS[(e // 12) % 12]} center {e}"
        for copy in range(2):
            out.append(Record("company", f"{e}-{copy}", name=name.upper() if copy else name,
                              phones=(f"+7 495 {1000000 + e}",)))
    return out


def test_a_failed_em_session_keeps_every_comparison_and_the_prior(caplog):
    spec = spec_for("company")
    with Store(":memory:") as store:
        ingest(store, account_id="a", entity="company", records=firms_without_inn())
        table = store.scan_input("a", spec, [])
    with caplog.at_level(logging.WARNING, logger="resolver.linkage"):
        settings = train_settings(table, spec)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and 'l."inn" = r."inn"' in skipped[0]
    assert "object at 0x" not in skipped[0] and "\n" not in skipped[0]  # a rule's SQL, one line
    # the session that failed blocked on INN: the model still compares INN, as the untrained spec does
    assert [c["output_column_name"] for c in settings["comparisons"]] == [
        "name", "inn", "domain", "email_domain", "phone", "email"]
    # the prior is not the failed session's blocked-pair prior (it was 0.09 here: one pair in eleven)
    assert settings["probability_two_random_records_match"] < 0.01
    # the sessions that worked kept what they learned: a shared phone and an exact name mark duplicates
    levels = {c["output_column_name"]: c["comparison_levels"] for c in settings["comparisons"]}
    assert levels["phone"][1]["m_probability"] > 0.9
    assert levels["name"][1]["m_probability"] > 0.9


def test_agency_and_site_names_at_one_address_and_phone_are_no_conflict():
    from resolver.evidence import adjust_evidence

    spec = spec_for("company")
    agency = spec.normalize(Record("company", "1", name="Chicago Commons Association", phones=("+17733865286",)))
    site = spec.normalize(Record("company", "2", name="St. Lucy School", phones=("+17733865286",)))
    weights = {"name": -3.0, "phone": 12.0, "address": 6.0}
    one = lambda value: 1.0  # noqa: E731 - every value carried by one name
    # without an address field the different names take the shared phone's weight away
    assert adjust_evidence(spec, agency, site, weights, one) == (
        -12.0, "different name cores: a shared phone, email or domain does not count")
    # at one address with one phone they are one place: nothing taken away
    assert adjust_evidence(spec, agency, site, weights, one, places=["address"]) == (0.0, None)
    # another house number (the address comparison disagrees): still a conflict
    assert adjust_evidence(spec, agency, site, dict(weights, address=-4.0), one, places=["address"])[0] == -12.0
