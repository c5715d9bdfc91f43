"""Screenshot of the MLflow UI's model version page (thresholds as tags) for the README.

Starts the MLflow UI with logins (the basic-auth app, as `make mlflow-ui` does; a throwaway auth
database) on the given tracking store, logs in as the model's account (`<account>-reviewer`), opens its
champion version in headless Chromium (Debian's package; Playwright drives it) and writes a PNG of what
that reviewer sees.

    python docs/mlflow_screenshot.py --tracking-uri sqlite:///var/mlflow.db \
        --model crm-dedup-demo-contact --out docs/mlflow-thresholds.png
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
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

    from training.mlflow_access import TenantAccess, account_resources, ui_command

    client = MlflowClient(tracking_uri=args.tracking_uri)
    version = args.version or client.get_model_version_by_alias(args.model, "champion").version
    account = client.get_registered_model(args.model).tags["account_id"]
    port = _free_port()
    tmp = tempfile.TemporaryDirectory()
    config = Path(tmp.name) / "auth.ini"
    config.write_text(f"[mlflow]\ndefault_permission = NO_PERMISSIONS\n"
                      f"database_uri = sqlite:///{Path(tmp.name) / 'auth.db'}\nadmin_username = admin\n")
    os.environ["MLFLOW_AUTH_CONFIG_PATH"] = str(config)  # TenantAccess writes the login into that database
    login = TenantAccess(args.tracking_uri).create_login(account, account_resources(client, account))
    env = os.environ | {"MLFLOW_AUTH_ADMIN_PASSWORD": secrets.token_urlsafe(18),
                        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_urlsafe(18)}
    ui = subprocess.Popen(ui_command(args.tracking_uri, "127.0.0.1", port, workers=1), env=env,
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
            page = browser.new_page(viewport={"width": 1400, "height": 900},
                                    http_credentials={"username": login.username, "password": login.password})
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
        tmp.cleanup()
    sys.stderr.write(f"wrote {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
