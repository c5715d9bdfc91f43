"""Screenshot of the MLflow UI's model version page (thresholds as tags) for the README.

Starts `mlflow ui` on the given tracking store, opens the champion version of a registered model
in headless Chromium (Debian's package; Playwright drives it) and writes a PNG.

    python docs/mlflow_screenshot.py --tracking-uri sqlite:///var/mlflow.db \
        --model crm-dedup-demo-contact --out docs/mlflow-thresholds.png
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--model", required=True, help="registered model name")
    parser.add_argument("--version", help="default: the version with alias champion")
    parser.add_argument("--out", type=Path, default=Path("docs/mlflow-thresholds.png"))
    args = parser.parse_args()
    from mlflow import MlflowClient
    from playwright.sync_api import sync_playwright

    client = MlflowClient(tracking_uri=args.tracking_uri)
    version = args.version or client.get_model_version_by_alias(args.model, "champion").version
    port = _free_port()
    ui = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", args.tracking_uri,
                           "--host", "127.0.0.1", "--port", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        chromium = shutil.which("chromium")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/#/models/{args.model}/versions/{version}",
                      wait_until="domcontentloaded")
            page.wait_for_timeout(6000)  # the UI fetches and renders after load; it never goes idle
            for label in ("Close", "close"):  # the assistant side panel hides half the page
                closer = page.locator(f'[aria-label="{label}"]')
                if closer.count():
                    closer.first.click()
                    page.wait_for_timeout(500)
                    break
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
    finally:
        ui.terminate()
        ui.wait(timeout=30)
    sys.stderr.write(f"wrote {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
