"""Real servers for tests: `crm-dedup` subprocesses on free ports, and Debian's chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 60  # loading Splink and the models on a busy 2-core machine
STOP_SECONDS = 15
CLI = Path(sys.executable).with_name("crm-dedup")  # the console script of this virtualenv
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without a developer's CRM_DEDUP_* settings, this checkout importable, plus `extra`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CRM_DEDUP_")} | {"PYTHONPATH": str(REPO)} | extra


def crm_dedup(*args: str, env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would (the console script when installed), capturing its output."""
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "api.cli"]
    return subprocess.run([*command, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A running `crm-dedup serve`: its base URL and process; its stderr goes to `log` (a pipe nobody
    reads would fill up with access lines over a long session and stall the server)."""

    url: str
    process: subprocess.Popen[str]
    log: Path

    def stop(self) -> tuple[int, str]:
        """SIGTERM, as a process manager stops it: (exit code, everything it wrote on stderr)."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=STOP_SECONDS)
        return self.process.returncode, self.log.read_text(encoding="utf-8")


def wait_until_answers(process: subprocess.Popen[str], url: str, log: Path, *,
                       seconds: float = STARTUP_SECONDS, pause: float = 0.1) -> None:
    """Poll `url` until it answers 200; fail the test with the server's `log` if it exits or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode} before answering:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"no answer from {url} in {seconds:.0f} s:\n{log.read_text()}")
        time.sleep(pause)  # polling a subprocess


@contextmanager
def served(db: Path | str, *, env: dict[str, str], cwd: Path, args: tuple[str, ...] = ()) -> Iterator[Served]:
    """`python -m api.cli serve` on a free port (`db`: a DuckDB file or a PostgreSQL URL; `args`: more flags,
    e.g. --workers 2), up once /healthz answers; killed on the way out if still up."""
    port = free_port()
    log = cwd / f"serve-{port}.log"
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--db", str(db),
             *args], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    server = Served(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until_answers(process, f"{server.url}/healthz", log)
        yield server
    finally:
        if process.poll() is None:
            process.kill()  # only reached when a test failed before its own stop()
            process.wait()


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's headless chromium driven by Playwright (its own browser download needs the internet)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("no `chromium` on PATH: install Debian's chromium package (make install does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
