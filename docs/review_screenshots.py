"""Screenshots of the review page for the README: the groups view and the check form, at 1280×720.

Makes a small demo store in a temporary directory (`crm-dedup demo`), serves it on a free port,
opens /ui in headless Chromium (Debian's package; Playwright drives it) and writes two PNGs.

    python docs/review_screenshots.py --out-dir docs
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _typed(phone: str) -> str:
    digits = phone.removeprefix("+7")  # +79161234567 -> 8 (916) 123-45-67, as people type it
    return f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs")
    parser.add_argument("--contacts", type=int, default=400)
    parser.add_argument("--companies", type=int, default=100)
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as home:
        db = Path(home) / "demo.duckdb"
        demo = subprocess.run([sys.executable, "-m", "api.cli", "demo", "--contacts", str(args.contacts),
                               "--companies", str(args.companies), "--show", "1", "-q", "--db", str(db)],
                              cwd=home, capture_output=True, text=True, check=True, env={"PYTHONPATH": str(REPO),
                                                                                          "PATH": "/usr/bin:/bin"})
        key = re.search(r"API key of account 'demo' \(.*\): (\S+)", demo.stdout).group(1)  # type: ignore[union-attr]
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--db", str(db)],
                                  cwd=home, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            headers = {"Authorization": f"Bearer {key}"}
            # a contact group of three named records shows the most: side by side, the waterfall, the plan
            groups = httpx.get(f"{url}/v1/groups", params={"entity": "contacts", "status": "open", "limit": 500},
                               headers=headers).json()["items"]
            named = [g for g in groups if all(n and n.lower() not in {"test", "без имени"} for n in g["names"])]
            shown = min(named, key=lambda g: (-min(g["size"], 3), len(set(g["names"])) < 2, g["group_score"]))
            phone = next(p for g in groups for r in g["record_ids"]
                         for p in httpx.get(f"{url}/v1/contacts/{r}", headers=headers).json()["phones"])
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=[
                    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.goto(f"{url}/ui/#key={key}")
                expect(page.locator(".group-item").first).to_be_visible()
                page.locator("#filters select[name=entity]").select_option("contacts")
                first = httpx.get(f"{url}/v1/groups", headers=headers, params={
                    "entity": "contacts", "status": "open", "limit": 1}).json()["items"][0]
                expect(page.locator(".group-item").first).to_have_attribute("data-group-id", first["group_id"])
                expect(page.locator(".group-item").first).to_contain_text("Контакт")
                item = page.locator(f'.group-item[data-group-id="{shown["group_id"]}"]')
                item.click()
                expect(item).to_have_attribute("aria-selected", "true")
                expect(page.locator("#group-title")).to_contain_text(shown["names"][0])
                expect(page.locator(".waterfall .step.total")).to_be_visible()
                # the explained score is the point of the picture: scroll the group until all of it shows
                page.evaluate("document.querySelector('.waterfall .step.total').scrollIntoView({block: 'end'})")
                args.out_dir.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out_dir / "review-groups.png"))

                page.get_by_role("tab", name="Проверка").click()
                page.get_by_label("Телефон").fill(_typed(phone))
                page.get_by_role("button", name="Проверить").click()
                expect(page.locator(".match").first).to_be_visible()
                page.screenshot(path=str(args.out_dir / "review-check.png"))
                browser.close()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    sys.stderr.write(f"wrote {args.out_dir / 'review-groups.png'} and {args.out_dir / 'review-check.png'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
