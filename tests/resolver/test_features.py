"""Re-ranker features: Splink levels and weights as the scorer gives them, and the shared-value signals."""

import pytest

from resolver.entities import spec_for
from resolver.features import FeatureBuilder
from resolver.records import Record
from resolver.scan import ingest


def _contact(record_id, name, phones=(), emails=()):
    return Record(entity="contact", record_id=record_id, name=name, phones=tuple(phones), emails=tuple(emails))


# Three teachers on one school mailbox at a free-mail host; one person twice (phone written two ways);
# two colleagues on a corporate mailbox
RECORDS = [
    _contact("1", "Иванова Мария Петровна", emails=["school5@mail.ru"]),
    _contact("2", "Петрова Анна", emails=["school5@mail.ru"]),
    _contact("3", "Сидорова Ольга", emails=["school5@mail.ru"]),
    _contact("4", "Кузнецов Олег", phones=["8 916 123-45-67"]),
    _contact("5", "Олег Кузнецов", phones=["+7 (916) 1234567"]),
    _contact("6", "Смирнов Павел", emails=["info@romashka.ru"]),
    _contact("7", "Смирнов Пётр", emails=["info@romashka.ru"]),
]


@pytest.fixture
def builder(store, default_models):
    ingest(store, account_id="acme", entity="contact", records=RECORDS)
    spec = spec_for("contact")
    return FeatureBuilder(store.scan_input("acme", spec), default_models["contact"], spec)


@pytest.mark.parametrize(("pair", "expected"), [
    # three names carry the school mailbox: log2(3); free-mail host; no name token in common
    (("1", "2"), {"shares_emails": 1.0, "log2_names_sharing_emails": 1.584962500721156, "shares_phones": 0.0,
                  "shared_email_free_mail": 1.0, "shared_email_corporate": 0.0, "name_token_overlap": 0.0}),
    # the same person: one phone, two tokens in common, nothing else shared
    (("4", "5"), {"shares_phones": 1.0, "log2_names_sharing_phones": 0.0, "shares_emails": 0.0,
                  "shared_email_free_mail": 0.0, "name_token_overlap": 2.0, "name_token_jaccard": 1.0}),
    # colleagues on a corporate mailbox, one surname in common
    (("6", "7"), {"shared_email_corporate": 1.0, "shared_email_free_mail": 0.0, "log2_names_sharing_emails": 1.0,
                  "name_token_overlap": 1.0, "name_token_jaccard": 1 / 3}),
], ids=["school-mailbox", "same-person-two-phone-spellings", "corporate-mailbox-colleagues"])
def test_shared_value_signals(builder, pair, expected):
    features = builder.build([pair])
    row = dict(zip(features.names, features.matrix[0], strict=True))
    assert {k: row[k] for k in expected} == pytest.approx(expected)


def test_levels_are_one_hot_and_weights_match_the_scorer(builder):
    features = builder.build([("4", "5"), ("1", "2")])
    for i, (a, b) in enumerate(features.pairs):
        weight, contributions = builder.scorer.score(builder.rows[a], builder.rows[b], builder.tf)
        row = dict(zip(features.names, features.matrix[i], strict=True))
        assert features.match_weight[i] == weight
        for c in contributions:
            hot = [k for k in row if k.startswith(f"gamma_{c.field}=") and row[k] == 1.0]
            assert hot == [f"gamma_{c.field}={c.gamma}"], (a, b, c.field)
            assert row[f"mw_{c.field}"] == pytest.approx(c.match_weight)
    assert features.match_probability[0] > 0.9 > features.match_probability[1]  # one person; three teachers
