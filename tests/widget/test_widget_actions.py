"""Acting on duplicates from the widget, in headless Chromium: the list view (groups among the selection,
manual and automatic merge), the card's "Объединить дубли", Save kept disabled on a typed duplicate, the
allow-list, and undo; the service is a real crm-dedup server, amoCRM's merge requests the stand-in's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.servers import clean_env, crm_dedup, served
from tests.widget.amocrm_merge import AmoMerges, AmoRecord
from tests.widget.conftest import ACCOUNT_ID, JWT_SECRET, ROOT, Service, widget_token

SCREENSHOTS = ROOT / "docs" / "screenshots"
JOB_TIMEOUT_S = 180.0
FIRST = ["Сергей", "Иван", "Анна", "Мария", "Пётр", "Олег", "Елена", "Ольга", "Дмитрий", "Наталья", "Алексей"]
LAST = ["Орлов", "Соколов", "Лебедева", "Козлова", "Новиков", "Морозов", "Волкова", "Зайцева", "Павлов", "Семёнова",
        "Фёдоров"]


def people() -> list[dict[str, Any]]:
    """Eleven safe pairs (one person, name in two orders, one phone in two spellings, one email in two cases:
    ids 1000+2i and 1001+2i) and one group needing review (2001-2003, linked by a phone only)."""
    records = []
    for i, (first, last) in enumerate(zip(FIRST, LAST, strict=True)):
        phone, email = f"+7 9{i:02d} 555-1{i}-2{i}", f"{last.lower()}.{i}@mail.ru"
        records.append({"id": str(1000 + 2 * i), "name": f"{first} {last}", "phones": [phone], "emails": [email],
                        "lead_ids": [str(7000 + i)]})
        records.append({"id": str(1001 + 2 * i), "name": f"{last} {first}", "phones": [phone.replace("+7", "8")],
                        "emails": [email.upper()], "lead_ids": [str(7100 + i), str(7200 + i)]})
    records += [{"id": "2001", "name": "Петров Иван", "phones": ["+7 916 123-45-67"]},
                {"id": "2002", "name": "Новый контакт по звонку с +79161234567"},
                {"id": "2003", "name": "Иван Петров", "phones": ["8 916 123 45 67"], "lead_ids": ["7300", "7301"]}]
    return records


def amo_records() -> AmoMerges:
    """The same records as amoCRM holds them (what its merge window reads)."""
    return AmoMerges(records={"contacts": {
        r["id"]: AmoRecord(name=r["name"], phones=list(r.get("phones", [])), emails=list(r.get("emails", [])),
                           leads=[int(x) for x in r.get("lead_ids", [])], tags=[11] if r["id"].endswith("1") else [])
        for r in people()}, "companies": {}})


def scan(url: str, headers: dict[str, str]) -> None:
    job = httpx.post(f"{url}/v1/jobs/scan", json={"entity": "contact"}, headers=headers, timeout=30).json()
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        state = httpx.get(f"{url}/v1/jobs/{job['job_id']}", headers=headers, timeout=30).json()
        if state["status"] in ("done", "failed"):
            assert state["status"] == "done", state
            return
        time.sleep(0.1)  # polling a subprocess's job
    raise AssertionError("the scan did not finish")


@pytest.fixture(scope="module")
def acting(tmp_path_factory) -> Iterator[Service]:
    """`crm-dedup serve` with people() stored and scanned, for the widget to act on."""
    home = tmp_path_factory.mktemp("acting-service")
    env = clean_env(CRM_DEDUP_JWT_SECRET=JWT_SECRET)
    db = home / "store.duckdb"
    created = crm_dedup("accounts", "create", str(ACCOUNT_ID), "--db", str(db), env=env, cwd=home)
    assert created.returncode == 0, created.stderr
    headers = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
    with served(db, env=env, cwd=home) as server:
        answer = httpx.post(f"{server.url}/v1/contacts:batch", json={"records": people()}, headers=headers, timeout=30)
        assert answer.status_code == 200 and answer.json()["rejected"] == [], answer.text
        scan(server.url, headers)
        yield Service(url=server.url, headers=headers)
        code, stderr = server.stop()
        assert code == 0, stderr


def group_of(service: Service, record_id: str) -> dict[str, Any]:
    answer = service.post("/v1/contacts/groups:among", {"record_ids": [record_id]})
    [group] = answer["groups"]
    return group


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def selection(ids: list[str]) -> list[dict[str, Any]]:
    return [{"id": int(i), "type": "contact", "phones": [], "emails": []} for i in ids]


LIST_PAGE = '<div class="list__top__actions"></div><div class="list">contacts</div>'


def open_list(open_card, acting, amo, ids, **options):
    page = open_card("/contacts/list", area="clist", card_id=0, body=LIST_PAGE, selected=selection(ids), amo=amo,
                     service_url=acting.url, **options)
    assert page.page.evaluate("widget.callbacks.contacts.selected()") is True
    return page


def test_select_groups_then_manual_merge_is_reported_and_kept_for_undo(open_card, acting):
    amo = amo_records()
    chosen = ["1000", "1001", "1002", "2001", "2003"]
    expected = acting.post("/v1/contacts/groups:among", {"record_ids": chosen})
    card = open_list(open_card, acting, amo, chosen)
    rows = card.page.locator(".crm-dedup-list tr.crm-dedup-group")
    expect(rows).to_have_count(expected["count"])
    assert expected["count"] == 3  # two safe pairs and the group needing review
    expect(card.page.locator(".crm-dedup-list .crm-dedup-message")).to_have_text(
        f"Найдено групп дублей: 3 (записей в них: {expected['records']})")
    review = card.page.locator('tr[data-safe="false"]')
    expect(review.locator(".crm-dedup-reasons")).to_contain_text("Требует проверки")
    shot(card.page, "list-view")

    pair = group_of(acting, "1000")
    row = card.page.locator(f'tr[data-group-id="{pair["group_id"]}"]')
    row.locator(".crm-dedup-merge-manual").click()
    window = card.page.locator(".crm-dedup-merge")
    expect(window.locator('tr[data-field="NAME"] input[type="radio"]')).to_have_count(2)
    survivor = pair["merge_plan"]["survivor_id"]
    expect(window.locator(f'input[name="crm-dedup-survivor"][value="{survivor}"]')).to_be_checked()
    shot(card.page, "merge-window")
    window.locator(".js-merge-start").click()
    expect(row).to_have_attribute("data-merged", survivor)

    [form] = amo.saves
    absorbed = [i for i in pair["record_ids"] if i != survivor]
    assert form["id[]"] == [survivor, *absorbed] and form["result_element[ID]"] == [survivor]
    assert len(form["result_element[cfv][100001][]"]) == 1  # one phone in two spellings is kept once
    assert sorted(form["result_element[LEADS][]"]) == ["7000", "7100", "7200"]
    assert absorbed[0] not in amo.records["contacts"]
    detail = acting.get(f"/v1/groups/{pair['group_id']}")
    assert (detail["status"], detail["survivor_id"]) == ("merged", survivor)
    kept = acting.get("/v1/merges")["items"]
    assert [(k["record_id"], k["survivor_id"], k["merged_by"]) for k in kept] == [(absorbed[0], survivor, "504141")]

    # undo from the list: this service has no amoCRM connection, and says so
    card.page.locator(".crm-dedup-recent").click()
    item = card.page.locator(f'li[data-merge-id="{kept[0]["merge_id"]}"]')
    item.locator(".crm-dedup-restore").click()
    expect(card.page.locator(".crm-dedup-list .crm-dedup-message")).to_contain_text("has no amoCRM connection")
    assert card.errors == []


def test_automatic_merge_of_a_mixed_selection_merges_only_the_safe_groups(open_card, acting):
    amo = amo_records()
    chosen = [str(i) for i in range(1004, 1016)] + ["2001", "2002", "2003"]
    card = open_list(open_card, acting, amo, chosen)
    expect(card.page.locator(".crm-dedup-list tr.crm-dedup-group")).to_have_count(7)
    auto = card.page.locator(".crm-dedup-auto-merge")
    expect(auto).to_have_text("Объединить автоматически (6)")
    auto.click()
    progress = card.page.locator(".crm-dedup-progress")
    expect(progress).to_have_attribute("data-finished", "done")
    expect(progress.locator(".crm-dedup-progress-text")).to_have_text("Объединено 6 из 6")
    expect(card.page.locator(".crm-dedup-list .crm-dedup-message")).to_have_text(
        "Готово: объединено групп — 6, с ошибкой — 0. Групп, требующих проверки, не тронуто: 1.")
    shot(card.page, "auto-merge")
    assert len(amo.saves) == 6
    assert {"2001", "2002", "2003"} <= set(amo.records["contacts"])  # the review group: never merged automatically
    review = group_of(acting, "2001")
    assert review["needs_review"] and acting.get(f"/v1/groups/{review['group_id']}")["status"] == "open"
    merged = {k["record_id"] for k in acting.get("/v1/merges?limit=200")["items"]}
    assert len(merged) == 7 and merged <= {str(i) for i in range(1000, 1016)}  # this run's six, the manual one
    assert card.errors == []


def test_automatic_run_pauses_after_the_merge_under_way_and_stops(open_card, acting):
    amo = amo_records()
    amo.hold = True  # amoCRM answers when the test says so
    card = open_list(open_card, acting, amo, [str(i) for i in range(1016, 1022)])
    auto = card.page.locator(".crm-dedup-auto-merge")
    expect(auto).to_have_text("Объединить автоматически (3)")
    auto.click()
    card.page.locator(".crm-dedup-pause").click()  # while the first merge's preview is still on its way
    expect(card.page.locator(".crm-dedup-pause")).to_have_text("Продолжить")
    text = card.page.locator(".crm-dedup-progress-text")
    while text.inner_text() != "Объединено 1 из 3":  # the merge under way finishes: preview, save, report
        amo.release()
        card.page.wait_for_timeout(10)
    card.page.wait_for_timeout(200)
    assert amo.held == [] and len(amo.saves) == 1  # paused: nothing more is asked of amoCRM
    card.page.locator(".crm-dedup-stop").click()
    expect(card.page.locator(".crm-dedup-progress")).to_have_attribute("data-finished", "stopped")
    expect(card.page.locator(".crm-dedup-list .crm-dedup-message")).to_have_text(
        "Остановлено: объединено групп — 1, с ошибкой — 0.")
    assert amo.held == [] and len(amo.saves) == 1
    statuses = [acting.get(f"/v1/groups/{g['group_id']}")["status"]
                for g in acting.post("/v1/contacts/groups:among", {"record_ids": ["1016", "1018", "1020"]})["groups"]]
    assert sorted(statuses) == ["open", "open"]  # the merged one has left the open groups
    assert card.errors == []


def test_without_delete_rights_the_run_stops_and_says_so(open_card, acting):
    amo = amo_records()
    amo.forbidden = True
    chosen = ["1002", "1003"]
    card = open_list(open_card, acting, amo, chosen)
    card.page.locator(".crm-dedup-auto-merge").click()
    expect(card.page.locator(".crm-dedup-progress")).to_have_attribute("data-finished", "forbidden")
    expect(card.page.locator(".crm-dedup-list .crm-dedup-message")).to_contain_text(
        "У вас нет права удалять записи в amoCRM")
    assert amo.saves == [] and acting.get(f"/v1/groups/{group_of(acting, '1002')['group_id']}")["status"] == "open"


def contact_card(contact_id: str, name: str) -> str:
    return f"""<form id="card_form"><div class="card-entity-form">
  <div class="linked-form__field"><label>Имя</label><input name="contact[NAME]" value="{name}"></div>
  <button class="button-input_blue card-top-save-button" type="submit">Сохранить</button>
</div></form>"""


def test_card_menu_merges_into_the_record_chosen_to_stay(open_card, acting):
    amo = amo_records()
    pair = group_of(acting, "1002")
    other = next(i for i in pair["record_ids"] if i != pair["merge_plan"]["survivor_id"])
    card = open_card(f"/contacts/detail/{other}", area="ccard", card_id=int(other), body=contact_card(other, "x"),
                     amo=amo, service_url=acting.url)
    more = card.page.locator(".crm-dedup-panel .crm-dedup-more")
    expect(more).to_be_visible()
    more.click()
    card.page.locator(".crm-dedup-menu-merge").click()
    dialog = card.page.locator(".crm-dedup-pick")
    expect(dialog.locator(f'input[value="{pair["merge_plan"]["survivor_id"]}"]')).to_be_checked()  # the plan's
    dialog.locator(f'input[value="{other}"]').check()  # the user keeps the open card's record instead
    shot(card.page, "card-merge")
    dialog.locator(".crm-dedup-merge-start").click()
    expect(card.page.locator(".crm-dedup-merged-note")).to_have_text(f"Объединено в запись № {other}")
    detail = acting.get(f"/v1/groups/{pair['group_id']}")
    assert (detail["status"], detail["survivor_id"]) == ("merged", other)
    assert amo.saves[0]["result_element[ID]"] == [other]
    assert card.errors == []


def test_deal_card_frames_the_duplicate_contact_and_lists_its_other_deals(open_card, acting):
    body = """<form id="card_form"><div class="card-entity-form">
  <div class="linked-form__field"><label>Бюджет</label><input name="lead[PRICE]" value="150000"></div>
  <div class="linked-forms__item"><label>Контакт</label><a href="/contacts/detail/2003">Иван Петров</a></div>
  </div></form>"""
    card = open_card("/leads/detail/7300", area="lcard", card_id=7300, body=body, amo=amo_records(),
                     service_url=acting.url)
    link = card.page.locator('#card_holder .linked-forms__item a[href="/contacts/detail/2003"]')
    expect(link).to_have_class("crm-dedup-name-frame")
    expect(link).to_have_css("outline-color", "rgb(229, 57, 53)")
    expect(card.page.locator('.crm-dedup-more[data-record-id="2003"]')).to_be_visible()
    deals = card.page.locator(".crm-dedup-other-deals")
    expect(deals.locator("a")).to_have_count(1)  # the contact's deals but this one
    expect(deals.locator("a")).to_have_attribute("href", "/leads/detail/7301")
    expect(deals).to_contain_text("Другие сделки контакта Иван Петров:")
    shot(card.page, "deal-card")
    assert card.errors == []


def test_save_stays_disabled_on_a_typed_duplicate_until_create_anyway(open_card, acting):
    form = """<form id="card_form"><div class="card-entity-form">
  <div class="linked-form__field"><label>Телефон</label><input name="CFV[100001][0][VALUE]" value=""></div>
  <button class="button-input_blue card-top-save-button" type="submit">Сохранить</button>
</div></form>"""
    card = open_card("/contacts/add", area="ccard", card_id=0, body=form, service_url=acting.url)
    save = card.page.locator(".card-top-save-button")
    expect(save).to_be_enabled()
    card.page.locator('input[name="CFV[100001][0][VALUE]"]').press_sequentially("+7 916 123-45-67")
    prompt = card.page.locator(".crm-dedup-prompt")
    expect(prompt).to_be_visible()
    expect(save).to_be_disabled()
    shot(card.page, "create-blocked")
    matched = sorted(prompt.locator("li").evaluate_all("items => items.map(i => i.dataset.recordId)"))
    prompt.locator(".crm-dedup-create-anyway").click()
    expect(save).to_be_enabled()
    expect(prompt).to_have_count(0)
    card.page.wait_for_function("window.standinCalls.some(c => c.url.endsWith('/created-anyway') && c.status)")
    # the card is saved in amoCRM; the sync brings the new record: the pending decision applies
    stored = httpx.post(f"{acting.url}/v1/contacts:batch", json={"records": [
        {"id": "3001", "name": "Иван П.", "phones": ["+7 (916) 123-45-67"]}]}, headers=acting.headers, timeout=30)
    assert stored.status_code == 200
    decisions = acting.get("/v1/feedback")["items"]
    assert sorted((d["left_id"], d["right_id"], d["decision"], d["reviewer"]) for d in decisions
                  if "3001" in (d["left_id"], d["right_id"])) == [
        (i, "3001", "not_duplicate", "504141") for i in matched]
    assert card.errors == []


def test_a_user_not_on_the_allow_list_sees_no_merge_action_and_the_service_refuses_them(open_card, acting):
    admin = widget_token(user_id=1, is_admin=True)
    card = open_card("/settings/widgets", area="settings", card_id=0, service_url=acting.url, token=admin,
                     body='<div class="widget-settings"><input name="service_url"><input type="hidden" name="options">'
                          '</div>')
    saved = card.page.evaluate("url => widget.callbacks.onSave({fields: {service_url: url, allowed_users: "
                               "{'1': 'y', '777': 'y', '504141': ''}, options: document.querySelector("
                               "'input[name=options]').value}})", acting.url)
    assert saved is True
    card.page.wait_for_function("window.standinCalls.some(c => c.method === 'PUT' && c.status === 200)")
    settings = acting.get("/v1/widget/settings")
    assert (settings["configured"], settings["allowed_users"]) == (True, ["1", "777"])
    try:
        amo = amo_records()
        listed = open_list(open_card, acting, amo, ["2001", "2003"])  # the default token: user 504141
        expect(listed.page.locator(".crm-dedup-list .crm-dedup-message")).to_contain_text(
            "Вам не разрешено искать и объединять дубли")
        expect(listed.page.locator(".crm-dedup-merge-manual, .crm-dedup-auto-merge")).to_have_count(0)
        shot(listed.page, "not-allowed")
        framed = open_card("/contacts/detail/2001", area="ccard", card_id=2001, body=contact_card("2001", "x"),
                           amo=amo, service_url=acting.url)
        expect(framed.page.locator(".crm-dedup-panel")).to_be_visible()  # duplicates are still shown
        framed.wait_for_calls(3)
        expect(framed.page.locator(".crm-dedup-more")).to_have_count(0)  # but no merge action
        group = group_of(acting, "2001")
        refused = httpx.post(f"{acting.url}/v1/groups/{group['group_id']}/merged",
                             json={"survivor_id": "2001", "absorbed_ids": ["2003"]},
                             headers={"X-Auth-Token": widget_token()}, timeout=30)
        assert refused.status_code == 403 and "allow-list" in refused.json()["detail"]
        allowed = httpx.get(f"{acting.url}/v1/widget/settings", headers={"X-Auth-Token": widget_token(user_id=777)},
                            timeout=30).json()
        assert allowed["allowed"] is True
    finally:
        put = httpx.put(f"{acting.url}/v1/widget/settings", json={"allowed_users": ["504141"]},
                        headers=acting.headers, timeout=30)
        assert put.status_code == 200


def test_screenshots_are_small(tmp_path: Path) -> None:
    for png in SCREENSHOTS.glob("*.png"):
        assert png.stat().st_size < 300_000, png


@pytest.fixture(scope="module")
def undoable(tmp_path_factory) -> Iterator[tuple[Service, Any]]:
    """The API in this process (uvicorn in a thread) with restore wired to the amoCRM API v4 stand-in (a real
    HTTP server): (the service, the stand-in). people() stored and scanned."""
    import threading

    import uvicorn

    from amocrm.standin import AmoStandin
    from api.app import create_app
    from api.crm_writer import amocrm_writers
    from api.settings import Settings
    from resolver.accounts import create_account
    from tests.amocrm.conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT, MemoryTokens, make_client
    from tests.servers import free_port

    home = tmp_path_factory.mktemp("undoable")
    with AmoStandin(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT) as amo_api:
        amo_api.add_account(ACCOUNT_ID, subdomain="test")
        app = create_app(Settings(db=home / "store.duckdb", jwt_secret=JWT_SECRET,
                                  mlflow_tracking_uri=f"sqlite:///{home}/none.db"))
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            while not server.started and thread.is_alive():
                time.sleep(0.02)  # uvicorn's own start-up flag
            url = f"http://127.0.0.1:{server.config.port}"
            headers = {"Authorization": f"Bearer {create_account(app.state.services.store, str(ACCOUNT_ID))}"}
            with make_client(amo_api, MemoryTokens(amo_api, ACCOUNT_ID)) as client:
                app.state.crm_writers = amocrm_writers(lambda account: client if account == str(ACCOUNT_ID) else None)
                answer = httpx.post(f"{url}/v1/contacts:batch", json={"records": people()}, headers=headers,
                                    timeout=30)
                assert answer.status_code == 200, answer.text
                scan(url, headers)
                yield Service(url=url, headers=headers), amo_api
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def test_select_merge_report_then_restore_from_the_list_recreates_the_record(open_card, undoable):
    service, amo_api = undoable
    amo = amo_records()
    card = open_list(open_card, service, amo, ["1000", "1001"])
    pair = group_of(service, "1000")
    survivor = pair["merge_plan"]["survivor_id"]
    absorbed = next(i for i in pair["record_ids"] if i != survivor)
    card.page.locator(f'tr[data-group-id="{pair["group_id"]}"] .crm-dedup-merge-manual').click()
    card.page.locator(".crm-dedup-merge .js-merge-start").click()
    expect(card.page.locator(f'tr[data-group-id="{pair["group_id"]}"]')).to_have_attribute("data-merged", survivor)
    [kept] = service.get("/v1/merges")["items"]
    assert (kept["record_id"], kept["survivor_id"]) == (absorbed, survivor)

    card.page.locator(".crm-dedup-recent").click()
    item = card.page.locator(f'li[data-merge-id="{kept["merge_id"]}"]')
    item.locator(".crm-dedup-restore").click()
    restored = item.locator(".crm-dedup-restored")
    expect(restored).to_contain_text("восстановлен как № ")
    shot(card.page, "restored")
    new_id = restored.inner_text().rsplit("№ ", 1)[1].strip()
    made = amo_api.record(ACCOUNT_ID, "contacts", int(new_id))
    original = next(r for r in people() if r["id"] == absorbed)
    assert made is not None and made["name"] == original["name"]
    stored = service.get(f"/v1/contacts/{absorbed}")  # synced in the flat shape: its normalized phone and email
    assert sorted(v["value"] for f in made["custom_fields_values"] for v in f["values"]) == sorted(
        stored["phones"] + stored["emails"])
    assert [lead["id"] for lead in made["_embedded"].get("leads", [])] == [int(x) for x in original["lead_ids"]]
    decisions = service.get("/v1/feedback")["items"]
    assert [(d["decision"], {d["left_id"], d["right_id"]}) for d in decisions] == [
        ("not_duplicate", {survivor, new_id})]
    assert card.errors == []
