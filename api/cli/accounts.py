"""`accounts` and `keys`: on the store file, or through a running server's admin API (--url); `accounts mlflow-user`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from api.cli.common import err
from api.settings import Settings
from resolver.errors import CrmDedupError, InputError
from resolver.store import Store

_LOCKED = "Could not set lock"  # DuckDB's words when another process (a running server) holds the file


def _accounts_store(settings: Settings) -> Store:
    """The store for `accounts` and `keys`; one a server holds says how to go through that server instead."""
    try:
        return Store(settings.db)
    except CrmDedupError as exc:
        if _LOCKED not in str(exc):
            raise
        raise CrmDedupError(
            f"store {settings.db} is held by a running server (DuckDB lets one process open it); run the same "
            "command through the server's admin API: add --url http://127.0.0.1:8000 (or set CRM_DEDUP_URL) "
            "with CRM_DEDUP_ADMIN_TOKEN set to the server's admin token") from None


def _server_url(args: argparse.Namespace) -> str | None:
    """--url, else env CRM_DEDUP_URL: a running server whose admin API does the work; None: the store file."""
    url: str | None = args.url or os.environ.get("CRM_DEDUP_URL") or None
    return url


def _admin_call(url: str, token: str | None, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One admin API request (urllib: no HTTP client dependency for the CLI); the JSON answer or the problem."""
    import json
    import urllib.error
    import urllib.request

    if token is None:
        raise InputError.one("CRM_DEDUP_ADMIN_TOKEN is not set: the admin API takes the server's admin token")
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise InputError.one(f"--url {url}: give the server's address, e.g. http://127.0.0.1:8000")
    request = urllib.request.Request(
        f"{base}/v1/admin{path}", method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", exc.reason)
        except ValueError:
            detail = exc.reason
        if exc.code == 422:
            raise InputError.one(f"{detail} (HTTP 422 from {base})") from None
        raise CrmDedupError(f"{detail} (HTTP {exc.code} from {base})") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CrmDedupError(f"cannot reach {base}: {reason}; is `crm-dedup serve` running there?") from None


def cmd_accounts_create(args: argparse.Namespace, settings: Settings) -> int:
    from resolver.accounts import create_account

    url = _server_url(args)
    if url:
        key = _admin_call(url, settings.admin_token, "POST", "/accounts", {"name": args.name})["key"]
    else:
        with _accounts_store(settings) as store:
            key = create_account(store, args.name)
    err(f"account {args.name!r} created in {url or settings.db}; its API key (shown once, store it now):")
    sys.stdout.write(key + "\n")
    return 0


def cmd_accounts_rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    from urllib.parse import quote

    from resolver.accounts import ROTATED_LABEL, rotate_key

    url = _server_url(args)
    if url:
        # over HTTP: the new key first, then every other active one revoked (a failure midway leaves
        # the old keys working and says so, never an account without a key)
        keys_path = f"/accounts/{quote(args.name, safe='')}/keys"
        made = _admin_call(url, settings.admin_token, "POST", keys_path, {"label": ROTATED_LABEL})
        key = made["key"]
        for old in _admin_call(url, settings.admin_token, "GET", keys_path)["items"]:
            if old["active"] and old["key_id"] != made["key_id"]:
                _admin_call(url, settings.admin_token, "DELETE", f"{keys_path}/{old['key_id']}")
    else:
        with _accounts_store(settings) as store:
            key = rotate_key(store, args.name)
    err(f"account {args.name!r} in {url or settings.db} has a new API key (every other key of the account no "
         "longer works; shown once):")
    sys.stdout.write(key + "\n")
    return 0


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    """`keys create|list|revoke --account NAME`: on the store file, or with --url through the admin API."""
    from urllib.parse import quote

    from api.schemas.admin import KeyOut
    from resolver.accounts import create_key, list_keys, revoke_key

    url = _server_url(args)
    account = args.account
    keys_path = f"/accounts/{quote(account, safe='')}/keys"
    where = url or str(settings.db)
    if args.keys_command == "create":
        if url:
            made = _admin_call(url, settings.admin_token, "POST", keys_path, {"label": args.label})
            key_id, key = made["key_id"], made["key"]
        else:
            with _accounts_store(settings) as store:
                key_id, key = create_key(store, account, args.label)
        err(f"key {key_id} of account {account!r} created ({where}); it works at once beside the account's "
             "other keys. The key (shown once, store it now):")
        sys.stdout.write(key + "\n")
    elif args.keys_command == "list":
        if url:
            rows = _admin_call(url, settings.admin_token, "GET", keys_path)["items"]
        else:
            with _accounts_store(settings) as store:
                rows = [KeyOut.of(k).model_dump(mode="json") for k in list_keys(store, account)]
        sys.stdout.write("key_id\tlabel\tcreated_at\trevoked_at\tlast_used_at\n")
        for row in rows:
            sys.stdout.write("\t".join(str(row[c] or "-") for c in ("key_id", "label", "created_at", "revoked_at",
                                                                    "last_used_at")) + "\n")
    else:
        if url:
            revoked = _admin_call(url, settings.admin_token, "DELETE", f"{keys_path}/{quote(args.key_id, safe='')}")
        else:
            with _accounts_store(settings) as store:
                revoked = KeyOut.of(revoke_key(store, account, args.key_id)).model_dump(mode="json")
        err(f"key {revoked['key_id']} of account {account!r} is revoked (since {revoked['revoked_at']}, {where}); "
             "it is refused from now on")
    return 0


def cmd_accounts_mlflow_user(args: argparse.Namespace, settings: Settings) -> int:
    """Create or reset the account's MLflow login; it sees only the account's runs and models."""
    from training.mlflow_access import TenantAccess, account_resources
    from training.registry import Registry, store_exists

    uri = settings.mlflow_tracking_uri
    existing = account_resources(Registry(uri).client, args.name) if store_exists(uri) else []
    login = TenantAccess(uri).create_login(args.name, existing)
    shared = ", ".join(login.shared) or "nothing yet (its experiments and models are shared as retraining makes them)"
    err(f"MLflow user {login.username!r} can see and tune account {args.name!r}: {shared}")
    err(f"log in at {settings.mlflow_ui_url} as {login.username}; its password (shown once; the previous one "
         "no longer works):")
    sys.stdout.write(login.password + "\n")
    return 0


def add_mlflow_user_parser(accounts: Any, common: argparse.ArgumentParser) -> None:
    p = accounts.add_parser("mlflow-user", parents=[common],
                            help="create or reset the account's MLflow UI login; prints its password last")
    p.add_argument("name", help="the account")
    p.set_defaults(func=cmd_accounts_mlflow_user)
