"""The widget acting on duplicates, end to end: 500 selected contacts -> groups shown; an automatic run over the
safe groups; every merge listed in GET /v1/merges and restored through the amoCRM API v4 stand-in.

The API runs in this process (uvicorn in a thread, a DuckDB file in a temp folder) so restore can use a CRM
writer on the amoCRM stand-in (amocrm/standin.py, a real HTTP server); the widget runs in headless Chromium
on the SDK stand-in (tests/widget/), with amoCRM's merge requests answered by tests/widget/amocrm_merge.py.
Prints its figures; never fails.

    python bench/bench_widget.py [--safe 60] [--review 10] [--records 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchkit import free_port, run_reporting  # noqa: E402  (bench/ is this script's first path entry)

FIRST = ["Сергей", "Иван", "Анна", "Мария", "Пётр", "Олег", "Елена", "Ольга", "Дмитрий", "Наталья", "Алексей",
         "Татьяна", "Николай", "Ирина", "Андрей", "Светлана", "Михаил", "Юлия", "Павел", "Ксения"]
PAIR_LAST = ["Орлов", "Соколов", "Лебедев", "Козлов", "Новиков", "Морозов", "Волков", "Зайцев", "Павлов", "Семёнов"]
SINGLE_LAST = ["Голубев", "Виноградов", "Богданов", "Воробьёв", "Фёдоров", "Михайлов", "Беляев", "Тарасов",
               "Белов", "Комаров", "Киселёв", "Макаров", "Андреев", "Ковалёв", "Ильин", "Гусев", "Титов",
               "Кузьмин", "Кудрявцев", "Баранов"]


def base(safe: int, review: int, total: int) -> tuple[list[dict[str, Any]], set[str]]:
    """`safe` pairs (one person twice), `review` groups joined by a phone only, singles up to `total`;
    the ids of the review groups' records."""
    records: list[dict[str, Any]] = []
    for i in range(safe):
        first, last = FIRST[i % len(FIRST)], PAIR_LAST[i // len(FIRST) % len(PAIR_LAST)] + ("а" * (i // 200))
        phone, email = f"+7 91{i // 100} {i % 100:02d}0-10-20", f"pair{i}@mail.ru"
        records.append({"id": str(100_000 + 2 * i), "name": f"{first} {last}", "phones": [phone], "emails": [email],
                        "lead_ids": [str(700_000 + i)]})
        records.append({"id": str(100_001 + 2 * i), "name": f"{last} {first}", "phones": [phone.replace("+7", "8")],
                        "emails": [email.upper()]})
    review_ids = set()
    for i in range(review):
        phone = f"+7 92{i // 100} {i % 100:02d}0-33-44"
        group = [{"id": str(200_000 + 3 * i), "name": f"{FIRST[i % 20]} Петров{i}", "phones": [phone]},
                 {"id": str(200_001 + 3 * i), "name": f"Новый контакт по звонку с {phone.replace(' ', '')}"},
                 {"id": str(200_002 + 3 * i), "name": f"Петров{i} {FIRST[i % 20]}",
                  "phones": [phone.replace("+7", "8")]}]
        records += group
        review_ids |= {r["id"] for r in group}
    i = 0
    while len(records) < total:
        first, last = FIRST[i % 20], SINGLE_LAST[i // 20 % 20] + ("а" * (i // 400))
        records.append({"id": str(300_000 + i), "name": f"{first} {last}",
                        "phones": [f"+7 93{i // 1000} {i % 1000:03d}-55-66"], "emails": [f"single{i}@yandex.ru"]})
        i += 1
    return records, review_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--safe", type=int, default=60, help="safe pairs in the base (the run's cap is 50)")
    parser.add_argument("--review", type=int, default=10, help="groups needing review")
    parser.add_argument("--records", type=int, default=500, help="contacts in the base, all selected")
    args = parser.parse_args()

    import httpx
    import uvicorn

    from amocrm.standin import AmoStandin
    from api.app import create_app
    from api.crm_writer import amocrm_writers
    from api.settings import Settings
    from resolver.accounts import create_account
    from tests.amocrm.conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT, MemoryTokens, make_client
    from tests.servers import chromium
    from tests.widget.amocrm_merge import AmoMerges, AmoRecord
    from tests.widget.conftest import ACCOUNT_ID, AMOCRM, JWT_SECRET, STANDIN, WIDGET, card_html, widget_token

    records, review_ids = base(args.safe, args.review, args.records)
    account = str(ACCOUNT_ID)
    with tempfile.TemporaryDirectory() as tmp, AmoStandin(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                                          redirect_uri=REDIRECT) as amo_api:
        amo_api.add_account(ACCOUNT_ID, subdomain="test")
        app = create_app(Settings(db=Path(tmp) / "bench.duckdb", jwt_secret=JWT_SECRET,
                                  mlflow_tracking_uri=f"sqlite:///{tmp}/none.db"))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)  # uvicorn's own start-up flag
        url = f"http://127.0.0.1:{port}"
        key = create_account(app.state.services.store, account)
        headers = {"Authorization": f"Bearer {key}"}
        client = make_client(amo_api, MemoryTokens(amo_api, ACCOUNT_ID))
        app.state.crm_writers = amocrm_writers(lambda name: client if name == account else None)
        try:
            started = time.perf_counter()
            answer = httpx.post(f"{url}/v1/contacts:batch", json={"records": records}, headers=headers, timeout=120)
            assert answer.status_code == 200, answer.text
            job = httpx.post(f"{url}/v1/jobs/scan", json={"entity": "contact"}, headers=headers, timeout=30).json()
            while (state := httpx.get(f"{url}/v1/jobs/{job['job_id']}", headers=headers, timeout=30).json())[
                    "status"] not in ("done", "failed"):
                time.sleep(0.2)
            print(f"base: {len(records)} contacts stored and scanned in {time.perf_counter() - started:.1f} s "
                  f"({state['status']})")
            httpx.put(f"{url}/v1/widget/settings", json={"allowed_users": ["504141"], "run_cap": 50},
                      headers=headers, timeout=30).raise_for_status()

            amo = AmoMerges(records={"contacts": {
                r["id"]: AmoRecord(name=r["name"], phones=list(r.get("phones", [])), emails=list(r.get("emails", [])),
                                   leads=[int(x) for x in r.get("lead_ids", [])]) for r in records}, "companies": {}})
            i18n = json.loads((WIDGET / "i18n" / "ru.json").read_text(encoding="utf-8"))
            config = {"token": widget_token(lifetime=1800), "settings": {"service_url": url}, "area": "clist",
                      "card_id": 0, "account_id": ACCOUNT_ID, "i18n": i18n,
                      "selected": [{"id": int(r["id"]), "type": "contact"} for r in records]}
            files = {"/standin/amocrm.js": STANDIN, "/widget/script.js": WIDGET / "script.js",
                     "/widget/amo_merge.js": WIDGET / "amo_merge.js"}
            with chromium() as browser:
                context = browser.new_context(viewport={"width": 900, "height": 700})
                context.grant_permissions(["local-network-access"], origin=AMOCRM)
                page = context.new_page()

                def serve(route: Any) -> None:
                    path = "/" + route.request.url.split("/", 3)[3].split("?")[0]
                    if path in files:
                        route.fulfill(body=files[path].read_text(encoding="utf-8"),
                                      content_type="application/javascript")
                    elif path.startswith("/ajax/merge/"):
                        amo.handle(route)
                    else:
                        route.fulfill(body=card_html(config=config, body='<div class="list__top__actions"></div>'),
                                      content_type="text/html; charset=utf-8")

                page.route(f"{AMOCRM}/**", serve)
                page.goto(f"{AMOCRM}/contacts/list")
                shown = page.evaluate("""() => new Promise(resolve => {
                    const t0 = performance.now();
                    widget.callbacks.contacts.selected();
                    const poll = () => document.querySelector('.crm-dedup-list tr.crm-dedup-group')
                        ? resolve([performance.now() - t0, document.querySelectorAll('tr.crm-dedup-group').length])
                        : setTimeout(poll, 5);
                    poll();
                })""")
                safe_shown = page.locator('tr[data-safe="true"]').count()
                print(f"list view: {len(records)} selected -> {shown[1]} groups shown ({safe_shown} safe) "
                      f"{shown[0]:.0f} ms after opening the widget (target: within 2,000 ms)")

                started = time.perf_counter()
                page.locator(".crm-dedup-auto-merge").click()
                page.wait_for_selector(".crm-dedup-progress[data-finished]", timeout=600_000)
                seconds = time.perf_counter() - started
                text = page.locator(".crm-dedup-progress-text").inner_text()
                finished = page.locator(".crm-dedup-progress").get_attribute("data-finished")
                context.close()
            merged_review = [i for i in review_ids if i not in amo.records["contacts"]]
            each = seconds / max(1, len(amo.saves))
            print(f"automatic run: {len(amo.saves)} groups merged in {seconds:.1f} s ({each:.2f} s per group; "
                  f"'{text}', {finished}); groups needing review merged: {len(merged_review)}")

            kept: list[dict[str, Any]] = []
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
                page_answer = httpx.get(f"{url}/v1/merges", params=params, headers=headers, timeout=30).json()
                kept += page_answer["items"]
                if not (cursor := page_answer["next_cursor"]):
                    break
            absorbed = sum(len(form["id[]"]) - 1 for form in amo.saves)
            print(f"GET /v1/merges: {len(kept)} kept merges for {absorbed} absorbed records")
            started = time.perf_counter()
            restored = 0
            for item in kept:
                answer = httpx.post(f"{url}/v1/merges/{item['merge_id']}/restore", headers=headers, timeout=60)
                restored += answer.status_code == 200
            print(f"restore: {restored} of {len(kept)} re-created through the API v4 stand-in in "
                  f"{time.perf_counter() - started:.1f} s (each: create + links, then not_duplicate)")
        finally:
            client.close()
            server.should_exit = True
            thread.join(timeout=30)


if __name__ == "__main__":
    run_reporting(main, __file__)
