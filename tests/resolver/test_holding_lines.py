"""A holding's head office and its branches (issue 14 item 1): "Ромашка" and "Ромашка-Север" are two companies.

A name that adds only a place word or a number to another is a branch, whatever phone, site or mail
domain the two share, unless one INN says they are one legal entity; any other added word ("ТД Ромашка")
is the same company written longer. Hand-made records, the shipped model.
"""

import pytest

from resolver.conflicts import company_conflict
from resolver.entities import normalize_company
from resolver.ingest import read_amocrm
from resolver.records import Record
from resolver.scan import ingest, scan
from training.heldout import TUNING_SEEDS, generate_heldout_companies


def inn10(seed: int) -> str:
    digits = [int(ch) for ch in f"78{seed:07d}"]
    digits.append(sum(w * d for w, d in zip((2, 4, 10, 3, 5, 9, 4, 6, 8), digits, strict=True)) % 11 % 10)
    return "".join(map(str, digits))


def firm(record_id, name, *, inn=None, phones=("+7 343 500-10-20",), emails=(), website="kedr-holding.ru"):
    return Record("company", record_id, name=name, inn=inn, phones=tuple(phones), emails=tuple(emails),
                  website=website)


HEAD = firm("head", "ООО «Кедр»", inn=inn10(1), emails=["info@kedr-holding.ru"])
BRANCHES = [
    firm("b1", "ООО «Кедр-Север»", inn=inn10(2)),
    firm("b2", "Кедр Казань", emails=["kazan@kedr-holding.ru"]),  # no INN: the place word alone says branch
    firm("b3", "Кедр 2"),
]
# the head office written again: the legal form moved, its INN, the same phone and site
HEAD_AGAIN = firm("head2", "Кедр, ООО", inn=inn10(1))


@pytest.mark.parametrize(("left", "right", "conflict"), [
    (("Кедр", None), ("Кедр-Север", None), "a branch"),
    (("Кедр", None), ("Кедр Казань", None), "a branch"),
    (("Кедр", None), ("Кедр 2", None), "a branch"),
    (("Кедр", inn10(3)), ("Кедр-Север", inn10(3)), None),  # one INN: one legal entity
    (("Кедр", inn10(3)), ("Кедр-Север", inn10(4)), "different INN"),
    (("Кедр", None), ("ТД Кедр", None), None),
    (("Кедр", None), ("Кедр Логистик", None), None),  # not a place or number word
    (("Кедр-Север", None), ("Кедр Юг", None), "sibling"),
])
def test_name_extension_conflicts(left, right, conflict):
    def row(name, inn):
        return normalize_company(firm("x", name, inn=inn))
    got = company_conflict(row(*left), row(*right))
    assert (got is None) if conflict is None else (got is not None and got.startswith(conflict)), got


def test_head_office_and_branches_on_one_phone_and_site_stay_apart(store, default_models):
    # among 2,000 other companies: in a base of five, "Кедр" and a site all share would be common values
    background = read_amocrm(generate_heldout_companies(2000, seed=TUNING_SEEDS[-1]).entities, "company")
    ingest(store, account_id="acme", entity="company", records=[*background, HEAD, *BRANCHES, HEAD_AGAIN])
    scan(store, account_id="acme", model=default_models["company"])
    grouped: dict[str, set[str]] = {}
    for row in store.groups_export("acme", "company"):
        grouped.setdefault(row["group_id"], set()).add(row["record_id"])
    branches = {b.record_id for b in BRANCHES}
    assert not [g for g in grouped.values() if g & branches], grouped
    assert {"head", "head2"} in grouped.values()
