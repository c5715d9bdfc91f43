"""Survivor choice and merge plans."""

from datetime import UTC, datetime

import pytest

from resolver.merge_plan import choose_survivor, plan_merge

OLD = datetime(2024, 1, 1, tzinfo=UTC)
NEW = datetime(2025, 6, 1, tzinfo=UTC)


def rec(record_id, *, updated=OLD, open_leads=(), leads=(), phones=(), emails=(), name=None, user="1"):
    return {"record_id": record_id, "updated_at": updated, "open_lead_ids": list(open_leads),
            "lead_ids": list(leads) or list(open_leads), "phones": list(phones), "emails": list(emails),
            "name": name, "responsible_user_id": user, "company_ids": []}


@pytest.mark.parametrize(
    ("members", "survivor", "why"),
    [
        # an open deal beats a fresher update
        ([rec("10", updated=NEW), rec("20", open_leads=["7"])], "20", "has an open deal"),
        ([rec("10"), rec("20", updated=NEW)], "20", "most recently updated"),
        # equal in everything: the lowest id, compared as a number (9 < 10)
        ([rec("10"), rec("9")], "9", "lowest id"),
        # both have open deals: the fresher one
        ([rec("10", open_leads=["1"]), rec("20", open_leads=["2"], updated=NEW)], "20", "most recently updated"),
        # missing updated_at counts as oldest
        ([rec("10", updated=None), rec("20")], "20", "most recently updated"),
    ],
    ids=["open-deal-wins", "fresher-wins", "lowest-numeric-id", "both-open-fresher", "no-updated-at"],
)
def test_choose_survivor(members, survivor, why):
    assert choose_survivor(members) == (survivor, why)


def test_plan_merge_keeps_survivor_values_first_and_collects_deals():
    plan = plan_merge([
        rec("3", phones=["+79161234567"], emails=["a@x.ru"], leads=["100"], name="Иван Петров", user="5"),
        rec("1", updated=NEW, phones=["+79031112233", "+79161234567"], name="Петров Иван", user="6",
            leads=["200"]),
    ])
    assert plan["survivor_id"] == "1"
    assert plan["merge_ids"] == ["3"]
    assert plan["responsible_user_id"] == "6"
    assert plan["lead_ids"] == ["200", "100"]
    assert plan["keep"] == {"name": "Петров Иван", "phones": ["+79031112233", "+79161234567"],
                            "emails": ["a@x.ru"]}
