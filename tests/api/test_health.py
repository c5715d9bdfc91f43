"""GET /healthz, GET /metrics (Prometheus text) and GET /v1/whoami's place in the API."""

import os
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.metrics import CONTENT_TYPE, LATENCY_BUCKETS, STORE_SIZES_TTL, Metrics
from api.settings import Settings
from resolver.accounts import create_account
from resolver.records import Record
from resolver.scan import ingest, scan
from resolver.store import Store

# "name{labels} value"; labels as written, values with escaped quotes allowed
_SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Parse the exposition text: (metric, labels) -> value; fails on a line that is not a sample or comment."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        out[(name, frozenset(_LABEL.findall(labels or "")))] = float(value)
    return out


def only(parsed, metric: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (name, labels), value in parsed.items() if name == metric}


def labels(**kw: str) -> frozenset[tuple[str, str]]:
    return frozenset(kw.items())


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in [n for n in os.environ if n.startswith("CRM_DEDUP_")]:
        monkeypatch.delenv(name)


SCRAPER_TOKEN = "scraper-token-0123456789"
SCRAPER = {"Authorization": f"Bearer {SCRAPER_TOKEN}"}  # the store's totals are the operator's only


def build_app(tmp_path) -> FastAPI:
    app = create_app(Settings(db=tmp_path / "store.duckdb", max_body_bytes=1_000, metrics_token=SCRAPER_TOKEN))

    @app.get("/test/probe/{item_id}")
    def probe(item_id: str) -> dict[str, str]:
        return {"item_id": item_id}

    @app.get("/test/page/{number:int}")  # a path convertor: labelled as OpenAPI writes the path
    def page(number: int) -> dict[str, int]:
        return {"number": number}

    return app


# -- /healthz and /v1/whoami -----------------------------------------------------------------------------

def test_healthz_needs_no_auth_and_names_the_models(tmp_path, default_models):
    with TestClient(build_app(tmp_path)) as client:
        response = client.get("/healthz")
    assert (response.status_code, response.json()) == (
        200, {"status": "ok", "models": {e: m.version for e, m in default_models.items()}})


def test_whoami_is_documented_under_accounts_and_health_under_health(tmp_path):
    with TestClient(build_app(tmp_path)) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert {path: paths[path]["get"]["tags"] for path in ("/healthz", "/metrics", "/v1/whoami")} == {
        "/healthz": ["health"], "/metrics": ["health"], "/v1/whoami": ["accounts"]}
    assert paths["/v1/whoami"]["get"]["responses"]["200"]["content"]["application/json"]["example"] == {
        "account_id": "acme"}


# -- /metrics: requests ----------------------------------------------------------------------------------

def test_requests_are_counted_by_route_template_never_by_raw_path(tmp_path):
    with TestClient(build_app(tmp_path)) as client:
        client.get("/test/probe/rec-7741")
        client.get("/test/probe/Иван Петров")             # an id with Cyrillic and a space
        client.get("/v1/whoami")                         # 401: no credentials
        client.get("/v2/acme-secret/contacts")           # no such route
        client.delete("/healthz")                        # 405
        client.options("/v1/whoami", headers={           # a CORS preflight, answered before routing
            "Origin": "https://acme.amocrm.ru", "Access-Control-Request-Method": "GET"})
        client.post("/test/probe/rec-9", content=b"x" * 2_000)  # 413 from Content-Length, before routing
        client.request("BREW", "/healthz")               # a method nobody uses: one "other" series
        client.get("/test/page/3")
        client.options("/test/page/4", headers={
            "Origin": "https://acme.amocrm.ru", "Access-Control-Request-Method": "GET"})
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    assert only(samples(response.text), "crm_dedup_http_requests_total") == {
        labels(method="GET", route="/test/probe/{item_id}", status="200"): 2,
        labels(method="GET", route="/v1/whoami", status="401"): 1,
        labels(method="GET", route="unmatched", status="404"): 1,
        labels(method="DELETE", route="/healthz", status="405"): 1,
        labels(method="OPTIONS", route="/v1/whoami", status="200"): 1,
        labels(method="POST", route="/test/probe/{item_id}", status="413"): 1,
        labels(method="other", route="/healthz", status="405"): 1,
        labels(method="GET", route="/test/page/{number}", status="200"): 1,
        labels(method="OPTIONS", route="/test/page/{number}", status="200"): 1,
    }
    for raw in ("rec-7741", "rec-9", "Иван", "acme-secret", "BREW"):
        assert raw not in response.text, raw


def test_latency_histogram_has_cumulative_buckets_from_5ms_to_5s(tmp_path):
    with TestClient(build_app(tmp_path)) as client:
        for _ in range(3):
            client.get("/healthz")
        parsed = samples(client.get("/metrics").text)
    buckets = only(parsed, "crm_dedup_http_request_duration_seconds_bucket")
    healthz = {dict(k)["le"]: v for k, v in buckets.items() if dict(k)["route"] == "/healthz"}
    assert list(healthz) == [str(b) for b in LATENCY_BUCKETS] + ["+Inf"]
    assert LATENCY_BUCKETS[0] == 0.005 and LATENCY_BUCKETS[-1] == 5.0
    counts = list(healthz.values())
    assert counts == sorted(counts) and counts[-1] == 3  # cumulative, and +Inf holds every request
    assert parsed[("crm_dedup_http_request_duration_seconds_count", labels(route="/healthz"))] == 3
    assert 0 < parsed[("crm_dedup_http_request_duration_seconds_sum", labels(route="/healthz"))] < 15


def test_label_values_are_escaped():
    metrics = Metrics()
    metrics.observe(method="GET", route='/v1/a"b\\c\nd', status=200, seconds=0.001)
    with Store(":memory:") as store:
        text = metrics.render(store=store, models={})
    assert 'crm_dedup_http_requests_total{method="GET",route="/v1/a\\"b\\\\c\\nd",status="200"} 1' in text.splitlines()


# -- /metrics: store sizes and models --------------------------------------------------------------------

def person(record_id: str, name: str, phones: tuple[str, ...] = (), **kw: Any) -> Record:
    return Record("contact", record_id, name=name, phones=phones, **kw)


def test_store_sizes_are_summed_over_accounts_and_name_none(tmp_path, default_models):
    # acme: 101-103 are one person (one phone in two spellings, plus the call record for it);
    # globex reuses record id 101 for someone else; a deleted contact is not counted.
    with Store(tmp_path / "store.duckdb") as store:
        create_account(store, "acme")
        ingest(store, account_id="acme", entity="contact", records=[
            person("101", "Петров Иван", ("+7 916 123-45-67",)),
            person("102", "Иван Петров", ("8 916 123 45 67",)),
            person("103", "Новый контакт по звонку с +79161234567 из UIS"),
            person("104", "Анна Смирнова", deleted=True),
        ])
        ingest(store, account_id="globex", entity="contact", records=[person("101", "Ольга Кузнецова")])
        ingest(store, account_id="globex", entity="company",
               records=[Record("company", "9", name="ООО «Ромашка»", inn="7707083893")])
        scans = [scan(store, account_id=a, model=default_models["contact"]) for a in ("acme", "globex")]
    assert (scans[0].n_groups, scans[1].n_groups) == (1, 0)
    with TestClient(build_app(tmp_path)) as client:
        text = client.get("/metrics", headers=SCRAPER).text
    parsed = samples(text)
    assert parsed[("crm_dedup_store_up", frozenset())] == 1
    assert only(parsed, "crm_dedup_records") == {labels(entity="contact"): 4, labels(entity="company"): 1}
    assert only(parsed, "crm_dedup_groups") == {labels(entity="contact", status="open"): 1,
                                                labels(entity="company", status="open"): 0}
    assert only(parsed, "crm_dedup_pairs") == {labels(entity="contact"): scans[0].n_pairs + scans[1].n_pairs,
                                               labels(entity="company"): 0}
    assert only(parsed, "crm_dedup_model_info") == {
        labels(entity=e, version=m.version): 1 for e, m in default_models.items()}
    for private in ("acme", "globex", "Петров", "Ромашка", "7707083893"):
        assert private not in text, private


def test_store_sizes_are_cached_for_ten_seconds(store):
    now = [1_000.0]
    metrics = Metrics(clock=lambda: now[0])
    ingest(store, account_id="acme", entity="contact", records=[person("1", "Иван Петров")])
    assert metrics.store_sizes(store).records["contact"] == 1
    ingest(store, account_id="acme", entity="contact", records=[person("2", "Мария Иванова")])
    now[0] += STORE_SIZES_TTL - 0.1
    assert metrics.store_sizes(store).records["contact"] == 1  # still the cached count
    now[0] += 0.1
    assert metrics.store_sizes(store).records["contact"] == 2


def test_a_failing_store_leaves_out_its_gauges_but_not_the_rest(tmp_path, default_models):
    store = Store(tmp_path / "closed.duckdb")
    store.close()
    metrics = Metrics()
    metrics.observe(method="GET", route="/healthz", status=200, seconds=0.002)
    parsed = samples(metrics.render(store=store, models=default_models, store_totals=True))
    assert parsed[("crm_dedup_store_up", frozenset())] == 0
    assert only(parsed, "crm_dedup_records") == {}
    assert only(parsed, "crm_dedup_http_requests_total") == {labels(method="GET", route="/healthz", status="200"): 1}
    assert len(only(parsed, "crm_dedup_model_info")) == 2
