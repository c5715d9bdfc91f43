"""Widget fixtures: the bundle module, a real crm-dedup server taking widget tokens, amoCRM card pages in Chromium."""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import jwt
import pytest

from tests.servers import chromium, clean_env, crm_dedup, served

ROOT = Path(__file__).parents[2]
WIDGET = ROOT / "widget"
STANDIN = Path(__file__).with_name("amocrm_standin.js")
SCREENSHOTS = ROOT / "var" / "test-output" / "widget"
# an amoCRM account page: its origin fits the API's default CORS pattern, https://<subdomain>.amocrm.ru
AMOCRM = "https://test.amocrm.ru"
ACCOUNT_ID = 29085955  # amoCRM's numeric account id, the token's account_id; the account is created under it
JWT_SECRET = "the-integration-secret-key-0123456789"  # CRM_DEDUP_JWT_SECRET of the served API

# The base the widget is tested on, and what must come out of it:
#   101 and 102: one person as "Петров Иван" / "Иван Петров", one phone in two spellings -> duplicates;
#   104: another person with another phone -> no duplicates;
#   501 and 502: one company as "ООО «Ромашка»" / "Ромашка, ООО" with one INN and phone -> duplicates.
CONTACTS = [
    {"id": "101", "name": "Петров Иван", "phones": ["+7 916 123-45-67"], "emails": ["i.petrov@romashka.ru"]},
    {"id": "102", "name": "Иван Петров", "phones": ["8 916 123 45 67"]},
    {"id": "104", "name": "Анна Смирнова", "phones": ["+7 903 000-11-22"]},
]
COMPANIES = [
    {"id": "501", "name": "ООО «Ромашка»", "inn": "7707083893", "phones": ["+7 495 111-22-33"]},
    {"id": "502", "name": "Ромашка, ООО", "inn": "7707083893", "phones": ["8 (495) 111-22-33"]},
]


def load_build() -> ModuleType:
    """widget/build.py as a module (widget/ is a bundle folder, not a Python package)."""
    spec = importlib.util.spec_from_file_location("widget_build", WIDGET / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def build() -> ModuleType:
    return load_build()


def widget_token(*, secret: str = JWT_SECRET, account_id: int = ACCOUNT_ID, lifetime: int = 600,
                 **claims: Any) -> str:
    """A token as amoCRM's $authorizedAjax sends it: HS256 with the integration's secret (amoCRM docs,
    "One-time tokens"); `aud` is left out unless given, see test_widget_page.py."""
    now = int(time.time())
    body = {"iss": AMOCRM, "jti": str(uuid.uuid4()), "iat": now, "nbf": now, "exp": now + lifetime,
            "account_id": account_id, "user_id": 504141, "client_uuid": "0a7e3b2c"} | claims
    return jwt.encode(body, secret, algorithm="HS256")


@dataclass(frozen=True)
class Service:
    """The served API: its base URL and the account's API-key headers (for reading the expected answers)."""

    url: str
    headers: dict[str, str]

    def get(self, path: str) -> Any:
        answer = httpx.get(f"{self.url}{path}", headers=self.headers, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = httpx.post(f"{self.url}{path}", json=body, headers=self.headers, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[Service]:
    """`crm-dedup serve` in a subprocess with CRM_DEDUP_JWT_SECRET set; CONTACTS and COMPANIES upserted."""
    home = tmp_path_factory.mktemp("widget-service")
    env = clean_env(CRM_DEDUP_JWT_SECRET=JWT_SECRET)
    db = home / "store.duckdb"
    # DuckDB lets one process write a file: the account is made before the server opens it
    created = crm_dedup("accounts", "create", str(ACCOUNT_ID), "--db", str(db), env=env, cwd=home)
    assert created.returncode == 0, created.stderr
    headers = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
    with served(db, env=env, cwd=home) as server:
        url = server.url
        for entity, records in (("contacts", CONTACTS), ("companies", COMPANIES)):
            answer = httpx.post(f"{url}/v1/{entity}:batch", json={"records": records}, headers=headers, timeout=30)
            assert answer.status_code == 200 and answer.json()["rejected"] == [], answer.text
        yield Service(url=url, headers=headers)
        code, stderr = server.stop()
        assert code == 0, stderr


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def card_html(*, config: dict[str, Any], body: str) -> str:
    """An amoCRM page: the card's DOM, the SDK stand-in configured by `config`, then the widget's script.js."""
    return f"""<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>amoCRM card (stand-in)</title>
<style>
  body {{ font-family: sans-serif; margin: 0; background: #eef1f4; }}
  #card_holder {{ width: 520px; margin: 16px; background: #fff; padding: 12px; min-height: 320px; }}
  .linked-form__field {{ display: flex; gap: 8px; margin: 6px 0; }}
  .linked-form__field label {{ width: 90px; color: #777; }}
</style></head>
<body>
<div id="card_holder" class="card-holder">{body}</div>
<script>window.STANDIN = {json.dumps(config, ensure_ascii=False)};</script>
<script src="/standin/amocrm.js"></script>
<script src="/widget/script.js"></script>
</body></html>"""


@dataclass
class CardPage:
    """A Playwright page on AMOCRM with the widget run on its card, and the page's uncaught errors."""

    page: Any
    errors: list[str]

    def wait_for_calls(self, count: int) -> None:
        """Until the widget's first `count` service calls have ended (answered or failed)."""
        self.page.wait_for_function(
            f"window.standinCalls && window.standinCalls.length >= {count} && "
            f"window.standinCalls.slice(0, {count}).every(c => c.status !== null)")

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def open_card(browser, service) -> Iterator[Callable[..., CardPage]]:
    """open_card(path, area=, card_id=, body=, settings=, token=, fake_clock=, selected=, amo=, service_url=)
    -> the page, the widget run on it; `amo` (tests/widget/amocrm_merge.py) answers amoCRM's merge requests."""
    i18n = json.loads((WIDGET / "i18n" / "ru.json").read_text(encoding="utf-8"))  # Russian: amoCRM's default
    contexts = []

    def open_(path: str, *, area: str, card_id: int, body: str, settings: dict[str, str] | None = None,
              token: str | None = None, fake_clock: bool = False, selected: list[dict[str, Any]] | None = None,
              amo: Any = None, service_url: str | None = None) -> CardPage:
        context = browser.new_context(viewport={"width": 800, "height": 600}, locale="ru-RU")
        # Chromium asks before a public page (the routed amoCRM origin) calls a loopback address; a real
        # deployment serves the API on a public host and never meets that question
        context.grant_permissions(["local-network-access"], origin=AMOCRM)
        contexts.append(context)
        config = {"token": token or widget_token(),
                  "settings": settings or {"service_url": service_url or service.url},
                  "area": area, "card_id": card_id, "account_id": ACCOUNT_ID, "i18n": i18n, "selected": selected or []}
        files = {"/standin/amocrm.js": STANDIN, "/widget/script.js": WIDGET / "script.js",
                 "/widget/amo_merge.js": WIDGET / "amo_merge.js"}

        def serve(route: Any) -> None:
            route_path = "/" + route.request.url.split("/", 3)[3].split("?")[0]
            if route_path in files:
                route.fulfill(body=files[route_path].read_text(encoding="utf-8"),
                              content_type="application/javascript; charset=utf-8")
            elif route_path.startswith("/ajax/merge/") and amo is not None:
                amo.handle(route)
            elif route_path == path:
                route.fulfill(body=card_html(config=config, body=body), content_type="text/html; charset=utf-8")
            else:
                route.fulfill(status=404, body="not part of the stand-in")

        page = context.new_page()
        card = CardPage(page=page, errors=[])
        page.on("pageerror", lambda error: card.errors.append(str(error)))
        if fake_clock:  # the page's timers move only when the test says so (page.clock.run_for)
            page.clock.install()
        page.route(f"{AMOCRM}/**", serve)
        page.goto(f"{AMOCRM}{path}")
        return card

    yield open_
    for context in contexts:
        context.close()
