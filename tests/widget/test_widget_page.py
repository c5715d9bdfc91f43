"""script.js in headless Chromium on amoCRM card pages (SDK stand-in), answered by a real crm-dedup server."""

from __future__ import annotations

import json
import math
import socket

import httpx
import pytest
from playwright.sync_api import expect

from tests.widget.conftest import widget_token

RED = "rgb(229, 57, 53)"  # the frame's colour, #e53935
FRAME = "#card_holder.crm-dedup-frame"
PANEL = ".crm-dedup-panel"
PROMPT = ".crm-dedup-prompt"


def contact_form(*, name: str = "", phone: str = "", email: str = "") -> str:
    """The fields of amoCRM's contact form: custom fields are named CFV[field_id][…]."""
    return f"""<form id="card_form"><div class="card-entity-form">
  <div class="linked-form__field"><label>Имя</label><input name="contact[NAME]" value="{name}"></div>
  <div class="linked-form__field"><label>Телефон</label>
    <input class="control-phone__formatted" name="CFV[100001][0][VALUE]" value="{phone}"></div>
  <div class="linked-form__field"><label>Email</label><input name="CFV[100002][0][VALUE]" value="{email}"></div>
</div></form>"""


COMPANY_FORM = """<form id="card_form"><div class="card-entity-form">
  <div class="linked-form__field"><label>Название</label><input name="company[NAME]" value="ООО «Ромашка»"></div>
  <div class="linked-form__field"><label>ИНН</label><input name="CFV[100010][0][VALUE]" value="7707083893"></div>
</div></form>"""

# a deal with contact 101 linked: its name links to its card, as in amoCRM's deal card
DEAL_CARD = """<form id="card_form"><div class="card-entity-form">
  <div class="linked-form__field"><label>Бюджет</label><input name="lead[PRICE]" value="150000"></div>
  <div class="linked-forms__item"><label>Контакт</label><a href="/contacts/detail/101">Петров Иван</a></div>
</div></form>"""


def shown_percent(probability: float) -> str:
    return f"сходство {min(99, math.floor(probability * 100))}%"


def shown_matches(service, entity: str, matches: list[dict]) -> list[tuple[str, str, str, str]]:
    """(record id, link, name, text of the line) for the matches the widget should list, from the API itself."""
    rows = []
    for match in matches[:5]:
        record = service.get(f"/v1/{entity}/{match['record_id']}")
        contact = (record["phones"] or record["emails"])[0]
        rows.append((match["record_id"], f"/{entity}/detail/{match['record_id']}", record["name"],
                     f"{record['name']}{contact}{shown_percent(match['match_probability'])}"))
    return rows


def listed(locator) -> list[tuple[str, str, str, str]]:
    items = locator.locator("li")
    return [(items.nth(i).get_attribute("data-record-id"), items.nth(i).locator("a").get_attribute("href"),
             items.nth(i).locator("a").inner_text(), items.nth(i).inner_text().replace("\n", ""))
            for i in range(items.count())]


def widget_warnings(card) -> list[str]:
    """What the widget wrote with console.warn, as the stand-in recorded it."""
    return card.page.evaluate("window.standinWarnings")


@pytest.mark.parametrize(("path", "area", "card_id", "body", "entity", "asked", "expected"), [
    ("/contacts/detail/101", "ccard", 101, contact_form(name="Петров Иван", phone="+7 916 123-45-67"),
     "contacts", "101", ["102"]),
    ("/companies/detail/501", "comcard", 501, COMPANY_FORM, "companies", "501", ["502"]),
    # a deal card asks about its linked contact and lists that contact's duplicates
    ("/leads/detail/7001", "lcard", 7001, DEAL_CARD, "contacts", "101", ["102"]),
], ids=["contact-card", "company-card", "deal-card"])
def test_saved_card_with_duplicates_gets_the_red_frame_and_their_list(
        open_card, service, path, area, card_id, body, entity, asked, expected):
    answer = service.get(f"/v1/{entity}/{asked}/duplicates")
    assert [m["record_id"] for m in answer["matches"]] == expected  # the service's real answer, checked first

    card = open_card(path, area=area, card_id=card_id, body=body)
    panel = card.page.locator(PANEL)
    expect(panel.locator("li")).to_have_count(len(expected))
    card.screenshot(f"frame-{area}")

    expect(card.page.locator(FRAME)).to_have_css("outline-color", RED)
    expect(panel.locator(".crm-dedup-title")).to_have_text(f"Возможные дубли: {len(expected)}")
    rows = shown_matches(service, entity, answer["matches"])
    if area == "lcard":  # each line says whose duplicate it is
        rows = [(*row[:3], row[3] + f"для контакта № {asked}") for row in rows]
    assert listed(panel) == rows
    assert card.page.evaluate("window.standinResults") == [True, True, True]
    assert (widget_warnings(card), card.errors) == ([], [])


def test_card_without_duplicates_stays_as_it_was(open_card, service):
    assert service.get("/v1/contacts/104/duplicates")["matches"] == []
    card = open_card("/contacts/detail/104", area="ccard", card_id=104,
                     body=contact_form(name="Анна Смирнова", phone="+7 903 000-11-22"))
    card.wait_for_calls(1)
    expect(card.page.locator(PANEL)).to_have_count(0)
    expect(card.page.locator(".crm-dedup-frame")).to_have_count(0)
    assert (widget_warnings(card), card.errors) == ([], [])


@pytest.mark.parametrize(("field", "typed", "title", "expected"), [
    # a phone in another spelling than either stored one; both stored contacts have it
    ("CFV[100001][0][VALUE]", "8 (916) 123-45-67", "Такой телефон уже есть в базе", ["101", "102"]),
    # an email in other letter case than the stored one
    ("CFV[100002][0][VALUE]", "I.Petrov@Romashka.RU", "Такой email уже есть в базе", ["101"]),
], ids=["phone", "email"])
def test_new_contact_form_prompts_to_use_the_existing_contact(open_card, service, field, typed, title, expected):
    kind = "phones" if "100001" in field else "emails"
    answer = service.post("/v1/contacts/check", {kind: [typed]})
    assert sorted(m["record_id"] for m in answer["matches"]) == expected

    card = open_card("/contacts/add", area="ccard", card_id=0, body=contact_form())
    expect(card.page.locator(PANEL)).to_have_count(0)  # a new card has no id to ask about
    card.page.locator(f'input[name="{field}"]').press_sequentially(typed)
    prompt = card.page.locator(PROMPT)
    expect(prompt.locator("li")).to_have_count(len(expected))
    card.screenshot(f"prompt-{kind}")

    expect(prompt.locator(".crm-dedup-title")).to_have_text(title)
    expect(prompt.locator(".crm-dedup-hint")).to_have_text("Используйте существующий контакт:")
    assert listed(prompt) == shown_matches(service, "contacts", answer["matches"])
    # the prompt sits right under the field being typed in
    assert card.page.evaluate(
        f"document.querySelector('input[name=\"{field}\"]').parentNode.nextElementSibling.className") == (
        "crm-dedup-prompt")
    assert (widget_warnings(card), card.errors) == ([], [])


def test_prompt_goes_when_the_phone_is_changed_to_an_unknown_one(open_card, service):
    card = open_card("/contacts/add", area="ccard", card_id=0, body=contact_form())
    phone = card.page.locator('input[name="CFV[100001][0][VALUE]"]')
    phone.press_sequentially("+7 916 123-45-67")
    expect(card.page.locator(PROMPT)).to_be_visible()
    phone.fill("+7 999 765-43-21")  # nobody has it
    expect(card.page.locator(PROMPT)).to_have_count(0)
    card.screenshot("prompt-gone")
    assert (widget_warnings(card), card.errors) == ([], [])


def test_destroy_takes_the_frame_and_the_input_watch_away(open_card):
    card = open_card("/contacts/detail/101", area="ccard", card_id=101, body=contact_form(phone="+7 916 123-45-67"),
                     fake_clock=True)
    expect(card.page.locator(PANEL)).to_be_visible()
    assert card.page.evaluate("widget.callbacks.destroy()") is True
    expect(card.page.locator(PANEL)).to_have_count(0)
    expect(card.page.locator("#card_holder")).not_to_have_class("card-holder crm-dedup-frame")
    calls = card.page.evaluate("window.standinCalls.length")
    card.page.locator('input[name="CFV[100002][0][VALUE]"]').press_sequentially("i.petrov@romashka.ru")
    card.page.clock.run_for(2000)  # past the widget's typing pause: a watch left behind would call now
    assert card.page.evaluate("window.standinCalls.length") == calls
    assert (widget_warnings(card), card.errors) == ([], [])


SETTINGS_PAGE = '<div class="widget-settings"><input name="service_url" value=""></div>'


@pytest.mark.parametrize(("address", "saved"), [
    ("https://dedup.example.ru", True),
    ("https://dedup.example.ru/crm/", True),  # behind a path prefix; the trailing slash is dropped on use
    ("https://дубли.рф", True),
    ("http://127.0.0.1:8000", True),  # a service on this machine, while trying the widget out
    ("http://dedup.example.ru", False),  # an https amoCRM page may not call plain http
    ("dedup.example.ru", False),
    ("javascript:alert(1)", False),
    ("", False),
    ("нет", False),
], ids=["https", "https-with-path", "cyrillic-domain", "loopback-http", "plain-http", "no-scheme", "javascript",
        "empty", "junk"])
def test_settings_accept_only_an_address_the_page_can_call(open_card, address, saved):
    card = open_card("/settings/widgets", area="settings", card_id=0, body=SETTINGS_PAGE)
    assert card.page.evaluate("a => widget.callbacks.onSave({fields: {service_url: a}})", address) is saved
    errors = card.page.locator(".crm-dedup-error")
    if saved:
        expect(errors).to_have_count(0)
    else:
        expect(errors).to_have_text("Укажите адрес сервиса, начинающийся с https://")
    assert card.page.evaluate("window.standinCalls.length") == 0  # the settings page asks the service nothing


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: nothing listens there


def _refused(path: str, status: int, title: str, detail: str) -> str:
    """The widget's warning for a call the service answered with problem+json."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail},
                      ensure_ascii=False, separators=(",", ":"))
    return f"[crm-dedup] GET {path} failed with status {status} {body}"


@pytest.mark.parametrize(("options", "warning"), [
    # a contact made in amoCRM a moment ago, not synced to the service yet
    (lambda: {"card_id": 999}, _refused("/v1/contacts/999/duplicates", 404, "Not found",
                                        "contact 999 is not stored in this account")),
    (lambda: {"token": widget_token(secret="another-integration-secret-0123456789")},
     _refused("/v1/contacts/101/duplicates", 401, "Unauthorized",
              "X-Auth-Token is invalid: Signature verification failed")),
    (lambda: {"token": widget_token(lifetime=-60)},
     _refused("/v1/contacts/101/duplicates", 401, "Unauthorized", "X-Auth-Token has expired")),
    # jQuery reports a request without an answer as status 0
    (lambda: {"settings": {"service_url": f"http://127.0.0.1:{_closed_port()}"}},
     "[crm-dedup] GET /v1/contacts/101/duplicates failed with status 0 TypeError: Failed to fetch"),
    (lambda: {"settings": {"service_url": " "}}, "[crm-dedup] the service address is not set in the widget settings "),
], ids=["record-not-synced-yet", "token-of-another-integration", "token-expired", "service-down", "no-address"])
def test_failing_call_draws_nothing_and_only_warns_in_the_console(open_card, options, warning):
    given = {"card_id": 101} | options()
    card_id = given.pop("card_id")
    card = open_card(f"/contacts/detail/{card_id}", area="ccard", card_id=card_id, body=contact_form(), **given)
    card.page.wait_for_function("window.standinWarnings.length > 0")
    assert widget_warnings(card) == [warning]
    expect(card.page.locator(PANEL)).to_have_count(0)
    expect(card.page.locator(".crm-dedup-frame")).to_have_count(0)
    assert card.errors == []
    assert card.page.evaluate("window.standinResults") == [True, True, True]


def test_token_with_amocrm_audience_claim_is_accepted(service):
    token = widget_token(aud="https://crm-dedup.example.org")
    answer = httpx.get(f"{service.url}/v1/whoami", headers={"X-Auth-Token": token}, timeout=30)
    assert (answer.status_code, answer.json()) == (200, {"account_id": "29085955"})


def test_token_minted_here_is_what_the_service_accepts(service):
    # the widget tests above use tokens without `aud`; this one shows they are valid on their own
    answer = httpx.get(f"{service.url}/v1/whoami", headers={"X-Auth-Token": widget_token()}, timeout=30)
    assert (answer.status_code, answer.json()) == (200, {"account_id": "29085955"})
