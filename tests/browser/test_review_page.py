"""The review page in headless chromium against a real server: sign in, decide, scan, check, translate, keys."""

import re

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server


def all_group_ids(server: Server, **filters) -> set[str]:
    """Every group id GET /v1/groups lists under `filters`, following the cursor."""
    ids: set[str] = set()
    cursor = None
    while True:
        page = server.get("/v1/groups", limit=500, **filters, **({"cursor": cursor} if cursor else {}))
        ids |= {g["group_id"] for g in page["items"]}
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def open_signed_in(page: Page, server: Server) -> None:
    page.goto(server.page_url())
    expect(page.locator(".group-item").first).to_be_visible()
    expect(page.locator("#group-title")).to_be_visible()


def test_the_page_asks_for_the_key_refuses_a_wrong_one_and_lists_groups(page, server, shot):
    page.goto(server.page_url(with_key=False))
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    shot("key-prompt")

    page.get_by_role("textbox", name="Ключ API").fill("ключ-по-русски")  # a header carries no Cyrillic
    page.get_by_role("button", name="Войти").click()
    expect(page.locator("#key-error")).to_have_text("Ключ не подошёл: в ключе только латинские буквы, цифры и знаки")
    page.get_by_role("textbox", name="Ключ API").fill("cdk_wrong")
    page.get_by_role("button", name="Войти").click()
    expect(page.locator("#key-error")).to_have_text("Ключ не подошёл: unknown API key")

    page.get_by_role("textbox", name="Ключ API").fill(server.key)
    page.get_by_role("button", name="Войти").click()
    expect(dialog).to_be_hidden()
    open_groups = server.get("/v1/groups/summary", status="open")
    left = server.get("/v1/groups/summary", status="open", needs_review="true")
    expect(page.locator(".group-item")).to_have_count(min(50, open_groups["groups"]))
    expect(page.locator("#left-count")).to_contain_text(f"Осталось проверить: {left['groups']}")
    # the best group first, with its score explained from the prior on
    best = server.get("/v1/groups", status="open", limit=1)["items"][0]
    expect(page.locator(".group-item").first).to_have_attribute("data-group-id", best["group_id"])
    expect(page.locator(".waterfall .step.prior")).to_contain_text("Начальная точка: дубликаты редки")
    expect(page.locator(".waterfall .step.total")).to_contain_text("вероятность дубликата")
    shot("groups")

    # the key lives in the tab: a reload needs no prompt
    page.reload()
    expect(page.locator(".group-item").first).to_be_visible()
    expect(dialog).to_be_hidden()


def test_not_a_duplicate_removes_the_group_from_the_page_and_the_api_and_undo_brings_it_back(page, server, shot):
    # a two-record contact group that needs review: separating its one pair leaves no group
    queue = server.get("/v1/groups", status="open", needs_review="true", limit=50)["items"]
    group = next(g for g in queue if g["size"] == 2 and g["entity"] == "contact")
    gid = group["group_id"]
    open_signed_in(page, server)
    page.locator("#filters select[name=needs_review]").select_option("true")
    expect(page.locator("#shown-count")).to_have_text(f"Показано {len(queue)} из {len(queue)}")
    page.locator(f'.group-item[data-group-id="{gid}"]').click()
    expect(page.locator(f'.group-item[data-group-id="{gid}"]')).to_have_attribute("aria-selected", "true")
    expect(page.locator(".pair[aria-pressed=true]")).to_contain_text(f"{group['record_ids'][0]}")
    expect(page.locator(".side-table")).to_contain_text(f"#{group['record_ids'][1]}")
    shot("group-selected")

    page.locator("#action-not-duplicate").click()

    expect(page.locator(f'.group-item[data-group-id="{gid}"]')).to_have_count(0)
    expect(page.locator("#toast")).to_contain_text("не дубликаты")
    shot("separated")
    assert gid not in all_group_ids(server)

    page.keyboard.press("u")
    expect(page.locator("#toast")).to_contain_text("Отменено решений: 1")
    log = server.get("/v1/feedback", entity="contacts", limit=1000)["items"]
    pair = sorted(group["record_ids"])
    assert [(d["left_id"], d["right_id"], d["decision"]) for d in log[-2:]] == [
        (*pair, "not_duplicate"), (*pair, "undo")]
    # the undo regroups at once: the group is back, under its id, on the page and in the API
    expect(page.locator(f'.group-item[data-group-id="{gid}"]')).to_have_count(1)
    assert gid in all_group_ids(server)
    shot("undone")


def test_duplicates_confirms_every_pair_and_the_survivor_can_be_changed(page, server, shot):
    open_signed_in(page, server)
    page.locator("#filters select[name=entity]").select_option("companies")
    first = page.locator(".group-item").first
    expect(first).to_contain_text("Компания")
    gid = first.get_attribute("data-group-id")
    first.click()
    expect(page.locator("#survivor-select")).to_be_visible()

    page.keyboard.press("d")
    expect(page.locator("#confirmed-badge")).to_have_text("Подтверждена как дубликаты")
    detail = server.get(f"/v1/groups/{gid}")
    assert [d["decision"] for d in detail["decisions"]] == ["duplicate"]

    other = next(m["record_id"] for m in detail["members"] if m["record_id"] != detail["merge_plan"]["survivor_id"])
    page.locator("#survivor-select").select_option(other)
    expect(page.locator("#survivor-reason")).to_have_text("Почему: выбрана вами")
    expect(page.locator(".side-table thead")).to_contain_text(f"#{other}Останется")
    shot("survivor-changed")


def test_a_scan_shows_its_progress_up_to_100_percent(page, server, shot):
    open_signed_in(page, server)
    bar = page.locator("#scan-progress")
    expect(bar).to_be_hidden()

    page.get_by_role("button", name="Сканировать").click()
    expect(bar).to_be_visible()
    shot("scan-started")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=90_000)
    expect(page.locator("#scan-status")).to_contain_text(re.compile(r"Готово: \d+ групп"))
    expect(page.locator(".progress-bar")).to_have_attribute("style", "width: 100%;")
    shot("scan-done")
    jobs_done = httpx.get(f"{server.url}/metrics").text
    assert 'route="/v1/jobs/{job_id}",status="200"' in jobs_done


def typed(phone: str) -> str:
    """+79161234567 as people type it: 8 (916) 123-45-67."""
    digits = phone.removeprefix("+7")
    return f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"


def a_contact_its_phone_finds(server: Server) -> tuple[dict, str]:
    """A grouped contact the check finds by its phone alone (a phone many records share scores too low)."""
    for group in server.get("/v1/groups", entity="contacts", status="open", limit=50)["items"]:
        record = server.get(f"/v1/contacts/{group['survivor_id']}")
        if not record["phones"]:
            continue
        answer = httpx.post(f"{server.url}/v1/contacts/check", headers=server.headers, timeout=30,
                            json={"phones": [typed(record["phones"][0])]}).json()
        if record["record_id"] in {m["record_id"] for m in answer["matches"]}:
            return record, typed(record["phones"][0])
    raise AssertionError("no grouped contact in the demo data is found by its phone")


def test_a_phone_typed_in_another_form_finds_the_existing_contact(page, server, shot):
    record, typed_phone = a_contact_its_phone_finds(server)
    open_signed_in(page, server)
    page.get_by_role("tab", name="Проверка").click()

    page.get_by_label("Телефон").fill(typed_phone)
    shot("typed")
    page.get_by_role("button", name="Проверить").click()

    match = page.locator(f'.match[data-record-id="{record["record_id"]}"]')
    expect(match).to_be_visible()
    expect(match).to_contain_text(record["phones"][0])
    expect(match).to_contain_text("✓ Телефон")
    shot("matches")


def test_english_is_one_click_away_and_stays(page, server, shot):
    open_signed_in(page, server)
    expect(page.locator("html")).to_have_attribute("lang", "ru")

    page.get_by_role("button", name="Switch to English").click()

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_contain_text("Duplicate review")
    expect(page.get_by_role("tab", name="Groups")).to_be_visible()
    expect(page.locator("#left-count")).to_contain_text("Left to review:")
    expect(page.locator(".waterfall .step.prior")).to_contain_text("Starting point: duplicates are rare")
    shot("english")
    page.reload()
    expect(page.locator("h1")).to_contain_text("Duplicate review")


def test_keyboard_moves_the_selection_and_shows_help(page, server, shot):
    open_signed_in(page, server)
    items = page.locator(".group-item")
    expect(items.nth(0)).to_have_attribute("aria-selected", "true")

    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(items.nth(2)).to_have_attribute("aria-selected", "true")
    expect(items.nth(0)).to_have_attribute("aria-selected", "false")
    page.keyboard.press("k")
    expect(items.nth(1)).to_have_attribute("aria-selected", "true")
    title = server.get(f"/v1/groups/{items.nth(1).get_attribute('data-group-id')}")["members"][0]["name"]
    expect(page.locator("#group-title")).to_contain_text(title or "#")
    shot("moved")

    page.keyboard.press("?")
    expect(page.locator("#help-dialog")).to_be_visible()
    expect(page.locator("#help-dialog")).to_contain_text("вся группа — дубликаты")
    shot("help")
    page.keyboard.press("Escape")
    expect(page.locator("#help-dialog")).to_be_hidden()


def test_a_rejected_key_brings_the_prompt_back(page, server):
    page.goto(server.page_url().replace(server.key, "cdk_revoked"))
    expect(page.locator("#key-dialog")).to_be_visible()
    expect(page.locator("#key-error")).to_have_text("Ключ не подошёл: unknown API key")
