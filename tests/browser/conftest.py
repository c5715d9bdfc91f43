"""Browser fixtures: a real `crm-dedup serve` on demo data, headless Debian chromium, a screenshot per step."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
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

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

REPO = Path(__file__).parents[2]
SHOTS = REPO / "var" / "test-output" / "browser"
STARTUP_SECONDS = 60  # loading Splink and the models on a busy 2-core machine
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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[Server]:
    """`crm-dedup demo` into a fresh store, then `crm-dedup serve` on it on a free port; SIGTERM at the end."""
    home = tmp_path_factory.mktemp("browser")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_DEDUP_")} | {"PYTHONPATH": str(REPO)}
    db = home / "demo.duckdb"
    demo = subprocess.run([sys.executable, "-m", "api.cli", "demo", *DEMO, "--db", str(db)], env=env, cwd=home,
                          capture_output=True, text=True, timeout=300, check=False)
    assert demo.returncode == 0, demo.stderr
    key = re.search(r"API key of account 'demo' \(.*\): (\S+)", demo.stdout)
    assert key, demo.stdout
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--db", str(db)],
        env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{process.stderr.read()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no answer from {url}/healthz in {STARTUP_SECONDS} s")
            time.sleep(0.1)  # polling a subprocess, not waiting on the page
        yield Server(url=url, key=key.group(1))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # per module: one sync Playwright may run in a process at a time, and tests/widget starts its own
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (own sessionStorage and localStorage) at 1280×720; page errors fail the test."""
    context = browser.new_context(viewport=VIEWPORT, locale="ru-RU")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
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
