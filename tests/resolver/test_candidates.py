"""The real-time check: the scan's pairs and weights, from memory, fresh after every upsert."""

from dataclasses import replace

import pytest

from resolver.candidates import Checker
from resolver.ingest import read_amocrm
from resolver.records import Record
from resolver.scan import ingest, scan
from resolver.store import Store
from training.synthetic import generate_contacts


def contact(record_id, name=None, phones=(), emails=()):
    return Record("contact", record_id, name=name, phones=tuple(phones), emails=tuple(emails))


@pytest.fixture
def checker(default_models):
    store = Store(":memory:")
    yield store, Checker(store, dict(default_models))
    store.close()


def test_duplicates_of_a_stored_record_are_the_scan_pairs(checker, default_models):
    store, check = checker
    synthetic = generate_contacts(1500, seed=9)
    ingest(store, account_id="a", entity="contact", records=read_amocrm(synthetic.entities, "contact"))
    scan(store, account_id="a", model=default_models["contact"])
    pairs = store._execute("SELECT left_id, right_id, match_weight FROM pairs WHERE account_id = 'a'").fetchall()
    assert len(pairs) > 50
    for left, right, weight in pairs:
        found = {m.record_id: m for m in check.duplicates_of("a", "contact", left, limit=100)}
        assert found[right].match_weight == pytest.approx(weight, abs=1e-9), (left, right)


def test_a_new_record_is_checkable_as_soon_as_it_is_stored(checker):
    store, check = checker
    probe = contact("", "Новый контакт по звонку с +79161234567 из UIS")
    assert check.check("a", probe) == []
    ingest(store, account_id="a", entity="contact",
           records=[contact("1", "Петров Иван", ["8 916 123-45-67"]), contact("2", "Анна Смирнова", ["+79031112233"])])
    # the call-made contact carries Иван Петров's phone: he is the one to use
    assert [m.record_id for m in check.check("a", probe)] == ["1"]
    # deleted records leave the answers
    ingest(store, account_id="a", entity="contact", records=[replace(contact("1"), deleted=True)])
    assert check.check("a", probe) == []


def test_accounts_never_see_each_other(checker):
    store, check = checker
    ingest(store, account_id="a", entity="contact", records=[contact("1", "Петров Иван", ["8 916 123-45-67"])])
    probe = contact("", "Иван Петров", ["+7 916 123 45 67"])
    assert [m.record_id for m in check.check("a", probe)] == ["1"]
    assert check.check("b", probe) == []
    assert check.duplicates_of("b", "contact", "1") is None


def test_the_probe_itself_is_not_its_own_duplicate(checker):
    store, check = checker
    ingest(store, account_id="a", entity="contact", records=[contact("1", "Петров Иван", ["8 916 123-45-67"])])
    assert check.check("a", contact("1", "Петров Иван", ["8 916 123-45-67"])) == []
    assert check.duplicates_of("a", "contact", "1") == []


def test_checks_leave_the_in_memory_base_as_stored(checker):
    """The candidates are the snapshot's own rows (not copies): the frequency columns a check adds must go to
    copies, so one check never changes what the next one (or another account's) reads."""
    import copy

    store, check = checker
    synthetic = generate_contacts(400, seed=12)
    ingest(store, account_id="a", entity="contact", records=read_amocrm(synthetic.entities, "contact"))
    probes = [replace(r, record_id="") for r in read_amocrm(synthetic.entities[::7], "contact")]
    first = [check.check("a", p) for p in probes]
    snap = check._snapshots[("a", "contact")]
    before = copy.deepcopy(snap.rows)
    assert not any(k.endswith(("_rare", "_few")) for row in before.values() for k in row)
    assert sum(map(bool, first)) > len(probes) // 2  # the probes are stored people: most are found
    assert [check.check("a", p) for p in reversed(probes)] == first[::-1]
    assert snap.rows == before
