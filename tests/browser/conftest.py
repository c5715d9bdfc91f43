"""Browser fixtures: a real `crm-dedup serve` on demo data, headless Debian chromium, a screenshot per step."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("no `chromium` on PATH: `make install` puts Debian's package in place (Playwright's own browser "
                "download needs the internet)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.servers import chromium, clean_env, crm_dedup, served  # noqa: E402

REPO = Path(__file__).parents[2]
SHOTS = REPO / "var" / "test-output" / "browser"
# small demo data: a few hundred records still make contact and company groups of every kind
DEMO = ("--contacts", "300", "--companies", "80", "--show", "1", "-q")
VIEWPORT = {"width": 1280, "height": 720}  # the size the page must be usable at
expect.set_options(timeout=15_000)


@dataclass(frozen=True)
class Server:
    """A running API on demo data: its base URL and the demo account's key."""

    url: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, headers=self.headers, timeout=30)
        response.raise_for_status()
        return response.json()

    def page_url(self, *, with_key: bool = True) -> str:
        return f"{self.url}/ui/" + (f"#key={self.key}" if with_key else "")


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[Server]:
    """`crm-dedup demo` into a fresh store, then `crm-dedup serve` on it on a free port; SIGTERM at the end."""
    home = tmp_path_factory.mktemp("browser")
    env = clean_env()
    db = home / "demo.duckdb"
    demo = crm_dedup("demo", *DEMO, "--db", str(db), env=env, cwd=home)
    assert demo.returncode == 0, demo.stderr
    key = re.search(r"API key of account 'demo' \(.*\): (\S+)", demo.stdout)
    assert key, demo.stdout
    with served(db, env=env, cwd=home) as running:
        yield Server(url=running.url, key=key.group(1))
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # per module: one sync Playwright may run in a process at a time, and tests/widget starts its own
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (own sessionStorage and localStorage) at 1280×720; page errors fail the test."""
    context = browser.new_context(viewport=VIEWPORT, locale="ru-RU")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    # the page's Content-Security-Policy refusing anything (an inline style, a foreign fetch) fails the test too
    tab.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield tab
    context.close()
    assert errors == [], errors


@pytest.fixture
def shot(request, page: Page):
    """shot("step") saves the page as var/test-output/browser/<test>-<n>-<step>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w-]+", "-", request.node.name).strip("-")
    taken = []

    def take(step: str) -> Path:
        taken.append(step)
        path = SHOTS / f"{name}-{len(taken)}-{step}.png"
        page.screenshot(path=str(path))
        return path

    return take
