"""The `crm-dedup` console script: calls what the API routers call; data on stdout, talk on stderr."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from api import cluster
from api.settings import Settings
from resolver import csvsafe
from resolver.entities import ExtraField, spec_for
from resolver.errors import CrmDedupError, InputError
from resolver.ingest import parse_column_map, read_records
from resolver.linkage import Model, Progress, load_model
from resolver.records import ENTITIES, PLURAL, Decision, Entity, Record
from resolver.scan import ScanResult, fit_model, ingest, scan
from resolver.store import Store, is_postgres_url, open_store

logger = logging.getLogger("crm_dedup.cli")

GROUPS_CSV_COLUMNS = ("group_id", "record_id", "group_score", "is_survivor", "needs_review",
                      "name", "phones", "emails", "review_reasons")
_MAX_PROBLEMS_SHOWN = 20


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


@contextmanager
def _bar(label: str, enabled: bool) -> Iterator[Progress]:
    """A tqdm bar on stderr that appears only if the step takes longer than two seconds."""
    if not enabled:
        yield lambda done, total: None
        return
    from tqdm import tqdm

    bar = tqdm(desc=label, total=0, file=sys.stderr, delay=2, leave=False, unit="")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)  # update() honours `delay`; refresh() would draw at once

    try:
        yield progress
    finally:
        bar.close()


def _model(settings: Settings, entity: Entity, threshold: float | None) -> Model:
    model = load_model(entity, settings.models_dir)
    if threshold is not None:
        from dataclasses import replace

        model = replace(model, review_threshold=threshold,
                        auto_merge_threshold=max(threshold, model.auto_merge_threshold))
    return model


def _probability(text: str) -> float:
    """argparse type: a match probability strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1 (exclusive)")
    return value


def _port(text: str) -> int:
    """argparse type: a TCP port number."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def _check_out(out_path: str | None) -> None:
    """Refuse an --out that cannot be written before any work is done."""
    if not out_path:
        return
    parent = Path(out_path).resolve().parent
    if not parent.is_dir():
        raise InputError.one(f"--out {out_path}: directory {parent} does not exist")
    if Path(out_path).is_dir():
        raise InputError.one(f"--out {out_path} is a directory; give a file name such as groups.csv")
    if not os.access(parent, os.W_OK):
        raise InputError.one(f"--out {out_path}: directory {parent} is not writable")


def _extras(items: Sequence[str] | None) -> list[ExtraField]:
    return [ExtraField.parse(item) for item in items or []]


def _read(args: argparse.Namespace, entity: Entity, extras: Sequence[ExtraField]) -> list[Record]:
    column_map = parse_column_map(args.map) if args.map else None
    return read_records(Path(args.file), entity, column_map=column_map,
                        extra_fields={e.name: e.source for e in extras} or None)


def _scan_one(store: Store, settings: Settings, account: str, entity: Entity, *, threshold: float | None,
              show: bool) -> ScanResult:
    model = _model(settings, entity, threshold)
    extras = store.extra_fields(account, entity)
    if extras:
        with _bar(f"training {entity} model with {', '.join(e.name for e in extras)}", show) as progress:
            model = fit_model(store, account_id=account, base=model, extras=extras, progress=progress)
    with _bar(f"scanning {PLURAL[entity]}", show) as progress:
        return scan(store, account_id=account, model=model, progress=progress)


def _write_groups(rows: list[dict[str, Any]], out: TextIO) -> None:
    # names, ids, phones are CRM users' text: cells a spreadsheet would run as formulas get a quote in front
    writer = csvsafe.writer(out, lineterminator="\n")
    writer.writerow(GROUPS_CSV_COLUMNS)
    for r in rows:
        writer.writerow([r["group_id"], r["record_id"], f"{r['group_score']:.4f}", int(r["is_survivor"]),
                         int(r["needs_review"]), r["name"] or "", "; ".join(r["phones"] or []),
                         "; ".join(r["emails"] or []), "; ".join(r["review_reasons"] or [])])


def _emit_groups(rows: list[dict[str, Any]], out_path: str | None) -> None:
    if out_path:
        tmp = Path(out_path).with_suffix(Path(out_path).suffix + ".part")
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            _write_groups(rows, fh)
        tmp.replace(out_path)  # the CSV appears whole or not at all
    else:
        _write_groups(rows, sys.stdout)


def _summary(result: ScanResult, rows: list[dict[str, Any]], out: str | None, elapsed: float) -> None:
    review = len({r["group_id"] for r in rows if r["needs_review"]})
    _err(f"{PLURAL[result.entity]}: {result.n_records} records, {result.n_pairs} scored pairs, "
         f"{result.n_groups} groups ({result.n_grouped_records} records, {review} need review) "
         f"in {elapsed:.1f} s; model {result.model_version}" + (f"; groups written to {out}" if out else ""))


# -- commands --------------------------------------------------------------------------------------

def cmd_dedupe(args: argparse.Namespace, settings: Settings) -> int:
    """A file alone: read, normalize, score, group; the store is in memory and thrown away."""
    t0 = time.perf_counter()
    _check_out(args.out)
    entity: Entity = spec_for(args.entity).entity
    extras = _extras(args.field)
    records = _read(args, entity, extras)
    with Store(":memory:") as store:
        with _bar("normalizing", not args.quiet) as progress:
            ingest(store, account_id="file", entity=entity, records=records, progress=progress)
        store.set_extra_fields("file", entity, extras)
        result = _scan_one(store, settings, "file", entity, threshold=args.threshold, show=not args.quiet)
        rows = store.groups_export("file", entity)
    _emit_groups(rows, args.out)
    _summary(result, rows, args.out, time.perf_counter() - t0)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    entity: Entity = spec_for(args.entity).entity
    extras = _extras(args.field)
    records = _read(args, entity, extras)
    with open_store(settings.store_target) as store:
        with _bar("importing", not args.quiet) as progress:
            n = ingest(store, account_id=args.account, entity=entity, records=records, progress=progress)
        if extras:
            store.set_extra_fields(args.account, entity, extras)
        total = store.count_records(args.account, entity)
    _err(f"imported {n} {entity} records into account {args.account} ({total} live {entity}s) in {settings.store_name}")
    return 0


def cmd_scan(args: argparse.Namespace, settings: Settings) -> int:
    entities: list[Entity] = [spec_for(args.entity).entity] if args.entity else list(ENTITIES)
    with open_store(settings.store_target) as store:
        for entity in entities:
            t0 = time.perf_counter()
            if store.count_records(args.account, entity) == 0:
                if args.entity:
                    raise InputError.one(f"account {args.account!r} has no {entity} records in {settings.store_name}; "
                                         "run `crm-dedup import` first")
                continue
            result = _scan_one(store, settings, args.account, entity, threshold=args.threshold,
                               show=not args.quiet)
            _summary(result, store.groups_export(args.account, entity), None, time.perf_counter() - t0)
    return 0


def cmd_groups(args: argparse.Namespace, settings: Settings) -> int:
    _check_out(args.out)
    entity: Entity = spec_for(args.entity).entity
    with open_store(settings.store_target) as store:
        if store.last_scan(args.account, entity) is None:
            raise InputError.one(f"account {args.account!r} has no {entity} scan in {settings.store_name}; "
                                 "run `crm-dedup scan` first")
        rows = store.groups_export(args.account, entity)
    _emit_groups(rows, args.out)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Generate demo contacts and companies, import them into account `demo`, scan, show groups, give a key."""
    from resolver.ingest import read_amocrm
    from training.synthetic import SyntheticGenerator, generate_companies, generate_contacts

    with open_store(settings.store_target) as store:
        runs: list[tuple[Entity, SyntheticGenerator, int]] = [
            ("contact", generate_contacts, args.contacts), ("company", generate_companies, args.companies)]
        for entity, gen, n in runs:
            synthetic = gen(n, seed=args.seed)
            records = read_amocrm(synthetic.entities, entity)
            ingest(store, account_id=args.account, entity=entity, records=records)
            t0 = time.perf_counter()
            result = _scan_one(store, settings, args.account, entity, threshold=None, show=not args.quiet)
            rows = store.groups_export(args.account, entity)
            _summary(result, rows, None, time.perf_counter() - t0)
            _print_top_groups(rows, limit=args.show)
        key, note = _demo_key(store, args.account)
    _err(f"store: {settings.store_name} (account {args.account!r}); "
         f"try: crm-dedup groups --db {settings.store_name} --account {args.account} --entity contact")
    url = f"http://{args.host}:{args.port}"
    sys.stdout.write(f"\nAPI key of account {args.account!r} ({note}): {key}\n"
                     f"start the API: crm-dedup serve --db {settings.store_name} --host {args.host} "
                     f"--port {args.port}\n"
                     f'then: curl -H "Authorization: Bearer {key}" "{url}/v1/groups?entity=contacts"\n'
                     f"or review the groups in a browser: {url}/ui/#key={key}\n")
    return 0


def _demo_key(store: Store, account: str) -> tuple[str, str]:
    """A fresh key for the demo account: created on the first run, rotated on every later one.

    Keys are stored hashed, so an existing account's key cannot be shown again; a new one can.
    """
    from resolver.accounts import account_exists, create_account, rotate_key

    if account_exists(store, account):
        return rotate_key(store, account), "new on every demo run; the previous one no longer works"
    return create_account(store, account), "new account"


def _print_top_groups(rows: list[dict[str, Any]], limit: int) -> None:
    """The best groups and the ones that need a person most, side by side."""
    seen: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        seen.setdefault(r["group_id"], []).append(r)
    confident = [g for g in seen.items() if not g[1][0]["needs_review"]][: (limit + 1) // 2]
    review = [g for g in seen.items() if g[1][0]["needs_review"]][-(limit // 2):] if limit > 1 else []
    out = sys.stdout
    for gid, members in confident + review:
        flag = "  needs review: " + "; ".join(members[0]["review_reasons"]) if members[0]["needs_review"] else ""
        out.write(f"{gid}  score {members[0]['group_score']:.4f}{flag}\n")
        for m in members:
            mark = "*" if m["is_survivor"] else " "
            out.write(f"  {mark} {m['record_id']:>10}  {m['name'] or '':40.40}  {', '.join(m['phones'] or [])}  "
                      f"{', '.join(m['emails'] or [])}\n")


# -- accounts and keys: on the store file, or through a running server's admin API ---------------

_LOCKED = "Could not set lock"  # DuckDB's words when another process (a running server) holds the file


def _accounts_store(settings: Settings) -> Store:
    """The store for `accounts` and `keys`; one a server holds says how to go through that server instead."""
    try:
        return open_store(settings.store_target)
    except CrmDedupError as exc:
        if _LOCKED not in str(exc):
            raise
        raise CrmDedupError(
            f"store {settings.store_name} is held by a running server (DuckDB lets one process open it); run the same "
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
    _err(f"account {args.name!r} created in {url or settings.store_name}; its API key (shown once, store it now):")
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
    _err(f"account {args.name!r} in {url or settings.store_name} has a new API key (every other key of the account no "
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
    where = url or settings.store_name
    if args.keys_command == "create":
        if url:
            made = _admin_call(url, settings.admin_token, "POST", keys_path, {"label": args.label})
            key_id, key = made["key_id"], made["key"]
        else:
            with _accounts_store(settings) as store:
                key_id, key = create_key(store, account, args.label)
        _err(f"key {key_id} of account {account!r} created ({where}); it works at once beside the account's "
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
        _err(f"key {revoked['key_id']} of account {account!r} is revoked (since {revoked['revoked_at']}, {where}); "
             "it is refused from now on")
    return 0


# -- accounts mlflow-user: the account's login to the MLflow UI (training/mlflow_access.py) --------------

def cmd_accounts_mlflow_user(args: argparse.Namespace, settings: Settings) -> int:
    """Create or reset the account's MLflow login; it sees only the account's runs and models."""
    from training.mlflow_access import TenantAccess, account_resources
    from training.registry import Registry, store_exists

    uri = settings.mlflow_tracking_uri
    existing = account_resources(Registry(uri).client, args.name) if store_exists(uri) else []
    login = TenantAccess(uri).create_login(args.name, existing)
    shared = ", ".join(login.shared) or "nothing yet (its experiments and models are shared as retraining makes them)"
    _err(f"MLflow user {login.username!r} can see and tune account {args.name!r}: {shared}")
    _err(f"log in at {settings.mlflow_ui_url} as {login.username}; its password (shown once; the previous one "
         "no longer works):")
    sys.stdout.write(login.password + "\n")
    return 0


def _add_mlflow_user_parser(accounts: Any, common: argparse.ArgumentParser) -> None:
    p = accounts.add_parser("mlflow-user", parents=[common],
                            help="create or reset the account's MLflow UI login; prints its password last")
    p.add_argument("name", help="the account")
    p.set_defaults(func=cmd_accounts_mlflow_user)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the API under uvicorn until SIGINT / SIGTERM (uvicorn finishes open requests, then exits 0)."""
    import uvicorn

    from api.app import create_app
    from api.services import Services

    # Open the store and models once up front: a locked store or a broken model then stops here
    # with one line on stderr, instead of inside uvicorn's lifespan with a traceback.
    if args.workers > 1:
        return cluster.serve_workers(args, settings)
    Services.open(settings).close()
    # main() pauses the cyclic GC for short batch runs; a server runs for days and must collect.
    gc.enable()
    # uvicorn shuts down gracefully on SIGTERM, then restores the handler it found and raises the
    # signal again; with Python's default handler that kills the process (-15) after a clean stop.
    # This handler takes the re-raised signal, so a graceful stop exits 0 (docker, systemd).
    stopped: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: stopped.append(sig))
    _err(f"crm-dedup API on http://{args.host}:{args.port} (docs at http://{args.host}:{args.port}/docs), "
         f"store {settings.store_name}")
    try:
        uvicorn.run(create_app(settings), host=args.host, port=args.port,
                    log_level="info" if args.verbose else "warning")
    finally:
        signal.signal(signal.SIGTERM, previous)
    _err("crm-dedup API stopped" + (" (SIGTERM)" if stopped else ""))
    return 0


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    """Retrain from the account's base and reviewers' decisions; register a version, promote if not worse."""
    from training.retrain import retrain

    entities: list[Entity] = [spec_for(args.entity).entity] if args.entity else list(ENTITIES)
    with open_store(settings.store_target) as store:
        for entity in entities:
            if store.count_records(args.account, entity) < 2:
                if args.entity:
                    raise InputError.one(f"account {args.account!r} has too few {entity} records in "
                                         f"{settings.store_name} to train on; run `crm-dedup import` first")
                continue
            with _bar(f"training {entity} model", not args.quiet) as progress:
                result = retrain(store, args.account, entity, tracking_uri=settings.mlflow_tracking_uri,
                                 default=load_model(entity, settings.models_dir), progress=progress)
            _err(f"{entity}: {result.registered_model} version {result.version} from {result.n_records} records "
                 f"and {result.n_labels} labels ({result.evaluation}) in {result.seconds:.1f} s; {result.reason}")
            sys.stdout.write(f"{entity}\t{result.registered_model}\t{result.version}\t"
                             f"{'champion' if result.promoted else '-'}\n")
    return 0


def cmd_models_list(args: argparse.Namespace, settings: Settings) -> int:
    """The account's registered versions, newest first: version, aliases, thresholds, promotion note (TSV)."""
    from training.registry import Registry

    registry = Registry(settings.mlflow_tracking_uri)
    entities: list[Entity] = [spec_for(args.entity).entity] if args.entity else list(ENTITIES)
    sys.stdout.write("entity\tversion\taliases\treview_threshold\tauto_merge_threshold\tpromotion\n")
    for entity in entities:
        for v in registry.versions(args.account, entity):
            sys.stdout.write(f"{entity}\t{v.version}\t{','.join(v.aliases) or '-'}\t{v.review_threshold}\t"
                             f"{v.auto_merge_threshold}\t{v.tags.get('promotion', '')}\n")
    return 0


def cmd_models_promote(args: argparse.Namespace, settings: Settings) -> int:
    """Make VERSION the champion (a rollback is promoting an older one); servers follow within their refresh."""
    from training.registry import Registry

    entity: Entity = spec_for(args.entity).entity
    Registry(settings.mlflow_tracking_uri).promote(args.account, entity, args.version)
    _err(f"{entity} model version {args.version} of account {args.account!r} is now the champion")
    return 0


FEEDBACK_EXPORT = "export"  # `crm-dedup feedback export`: the word that is not a file name


def cmd_feedback(args: argparse.Namespace, settings: Settings) -> int:
    """`feedback FILE.jsonl`: store a file of decisions (all or none); `feedback export`: write the log."""
    if args.file == FEEDBACK_EXPORT:
        return _feedback_export(args, settings)
    if args.entity or args.out:
        raise InputError.one("--entity and --out belong to `crm-dedup feedback export`; a decisions file "
                             "names the entity on every line (a file called `export`: write ./export)")
    from resolver.suppression import record_decisions

    decisions = _read_decisions(Path(args.file))
    with open_store(settings.store_target) as store:
        stored = record_decisions(store, args.account, decisions)
    _err(f"stored {len(stored)} decisions of {args.file} in account {args.account!r} "
         f"(#{stored[0].seq}-#{stored[-1].seq}); the groups they touch are regrouped")
    return 0


def _read_decisions(path: Path) -> list[Decision]:
    """Decisions of a JSONL file, one a line (design.md); InputError names the line and field of every problem."""
    import json

    from api.schemas import PairDecisionIn
    from resolver.errors import InputProblem

    source = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError.one(f"cannot read file: {exc.strerror or exc}", source=source) from exc
    except UnicodeDecodeError as exc:
        raise InputError.one("not UTF-8 text", source=source) from exc
    decisions: list[Decision] = []
    problems: list[InputProblem] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(InputProblem(f"not valid JSON: {exc.msg}", source, line_no))
            continue
        if not isinstance(obj, dict):
            problems.append(InputProblem(f"expected a JSON object, got {type(obj).__name__}", source, line_no))
            continue
        try:
            decisions.append(PairDecisionIn.model_validate(obj).to_decision())
        except ValidationError as exc:
            problems += [InputProblem(e["msg"], source, line_no, ".".join(map(str, e["loc"])) or None)
                         for e in exc.errors()]
    if problems:
        raise InputError(problems)
    if not decisions:
        raise InputError.one("the file holds no decisions", source=source)
    return decisions


def _feedback_export(args: argparse.Namespace, settings: Settings) -> int:
    """The account's decisions as JSONL, oldest first, in the shape `crm-dedup feedback FILE` reads."""
    import json
    from datetime import UTC

    _check_out(args.out)
    with open_store(settings.store_target) as store:
        decisions = store.decisions(args.account, spec_for(args.entity).entity if args.entity else None)
    lines = []
    for d in decisions:
        assert d.decided_at is not None  # the store stamps every decision it appends
        row = {"entity": d.entity, "left_id": d.left_id, "right_id": d.right_id, "decision": d.decision,
               "reviewer": d.reviewer, "at": d.decided_at.astimezone(UTC).isoformat().replace("+00:00", "Z")}
        if d.group_id:
            row["group_id"] = d.group_id
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    if args.out:
        tmp = Path(args.out).with_suffix(Path(args.out).suffix + ".part")
        tmp.write_text("".join(lines), encoding="utf-8")
        tmp.replace(args.out)  # the file appears whole or not at all
        _err(f"{len(lines)} decisions of account {args.account!r} written to {args.out}")
    else:
        sys.stdout.write("".join(lines))
    return 0


# -- parser ----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm-dedup", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="DuckDB store file or postgresql:// URL (default: env CRM_DEDUP_DATABASE_URL, "
                        "else CRM_DEDUP_DB, else var/crm-dedup.duckdb)")
    common.add_argument("--models-dir", help="model directory (default: the shipped models)")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    common.add_argument("-v", "--verbose", action="store_true", help="log what happens on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    def file_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("file", help="amoCRM JSON (.json/.jsonl), CSV or XLSX")
        p.add_argument("--entity", required=True, choices=ENTITIES)
        p.add_argument("--map", nargs="+", metavar="KEY=HEADER",
                       help='column map, e.g. name="Полное имя" phone="Рабочий телефон" email="Рабочий email"')
        p.add_argument("--field", action="append", metavar="NAME:KIND[:SOURCE]",
                       help="an extra field to match on; KIND is text, date or identifier "
                            "(e.g. birthday:date:'Дата рождения')")

    p = sub.add_parser("dedupe", parents=[common], help="find duplicate groups in a file alone")
    file_args(p)
    p.add_argument("--out", help="groups CSV (default: stdout)")
    p.add_argument("--threshold", type=_probability, help="review threshold (match probability) instead of the model's")
    p.set_defaults(func=cmd_dedupe)

    p = sub.add_parser("import", parents=[common], help="normalize a file and upsert it into an account")
    file_args(p)
    p.add_argument("--account", required=True)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("scan", parents=[common], help="score and group an account's whole base")
    p.add_argument("--account", required=True)
    p.add_argument("--entity", choices=ENTITIES, help="default: both")
    p.add_argument("--threshold", type=_probability, help="review threshold instead of the model's")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("groups", parents=[common], help="the groups CSV of the last scan")
    p.add_argument("--account", required=True)
    p.add_argument("--entity", required=True, choices=ENTITIES)
    p.add_argument("--out", help="groups CSV (default: stdout)")
    p.set_defaults(func=cmd_groups)

    # accounts and keys work on the store file, or through a running server's admin API (--url)
    remote = argparse.ArgumentParser(add_help=False, parents=[common])
    remote.add_argument("--url", help="a running server (its admin API, with env CRM_DEDUP_ADMIN_TOKEN), e.g. "
                                      "http://127.0.0.1:8000; default: env CRM_DEDUP_URL, else the store file")
    p = sub.add_parser("accounts", parents=[common], help="manage accounts (tenants)")
    acc = p.add_subparsers(dest="accounts_command", required=True)
    pc = acc.add_parser("create", parents=[remote], help="create an account; prints its API key last")
    pc.add_argument("name", help="the amoCRM account id for widget tokens (their account_id claim), or any name")
    pc.set_defaults(func=cmd_accounts_create)
    pr = acc.add_parser("rotate-key", parents=[remote],
                        help="replace all of an account's API keys with a new one; prints it last")
    pr.add_argument("name")
    pr.set_defaults(func=cmd_accounts_rotate_key)
    _add_mlflow_user_parser(acc, common)

    p = sub.add_parser("keys", parents=[common], help="an account's API keys: create, list, revoke",
                       description="Several keys per account work at once. On the store file, or, while a server "
                                   "holds the store, through its admin API with --url and CRM_DEDUP_ADMIN_TOKEN.")
    keys = p.add_subparsers(dest="keys_command", required=True)
    keys_common = argparse.ArgumentParser(add_help=False, parents=[remote])
    keys_common.add_argument("--account", required=True)
    pk = keys.add_parser("create", parents=[keys_common], help="one more key; prints it last (shown once)")
    pk.add_argument("--label", help="what the key is for, e.g. 1c-sync (shown in `keys list`)")
    pk.set_defaults(func=cmd_keys)
    pk = keys.add_parser("list", parents=[keys_common], help="the account's keys, revoked ones too (TSV; no secrets)")
    pk.set_defaults(func=cmd_keys)
    pk = keys.add_parser("revoke", parents=[keys_common], help="revoke one key: refused at once")
    pk.add_argument("key_id", metavar="KEY_ID", help="from `keys list`, e.g. key_3f9a0c1b7d2e")
    pk.set_defaults(func=cmd_keys)

    p = sub.add_parser("serve", parents=[common], help="run the HTTP API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=_port, default=8000)
    cluster.add_serve_options(p)
    p.set_defaults(func=cmd_serve)
    cluster.add_parsers(sub, common)

    p = sub.add_parser("train", parents=[common], help="retrain from the account's data and reviewers' decisions")
    p.add_argument("--account", required=True)
    p.add_argument("--entity", choices=ENTITIES, help="default: both")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("models", parents=[common], help="the account's registered models (MLflow registry)")
    mod = p.add_subparsers(dest="models_command", required=True)
    pl = mod.add_parser("list", parents=[common], help="versions, aliases and thresholds, newest first (TSV)")
    pl.add_argument("--account", required=True)
    pl.add_argument("--entity", choices=ENTITIES, help="default: both")
    pl.set_defaults(func=cmd_models_list)
    pp = mod.add_parser("promote", parents=[common], help="make VERSION the champion (rollback)")
    pp.add_argument("version", type=int)
    pp.add_argument("--account", required=True)
    pp.add_argument("--entity", required=True, choices=ENTITIES)
    pp.set_defaults(func=cmd_models_promote)

    p = sub.add_parser("feedback", parents=[common],
                       help="store reviewers' decisions from a JSONL file, or `feedback export` the log",
                       description="`crm-dedup feedback FILE.jsonl --account NAME` stores the file's decisions "
                                   "(all or none); `crm-dedup feedback export --account NAME [--entity] [--out]` "
                                   "writes the account's decisions as JSONL, oldest first.")
    p.add_argument("file", metavar="FILE.jsonl|export", help="a decisions file, one JSON object a line; or `export`")
    p.add_argument("--account", required=True)
    p.add_argument("--entity", choices=ENTITIES, help="export: only this entity (default: both)")
    p.add_argument("--out", help="export: the JSONL file (default: stdout)")
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("demo", parents=[common], help="generate demo data, import, scan and show groups")
    p.add_argument("--account", default="demo")
    p.add_argument("--contacts", type=int, default=5000)
    p.add_argument("--companies", type=int, default=1500)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--show", type=int, default=5, help="groups to print per entity")
    p.add_argument("--host", default="127.0.0.1", help="where `serve` will listen (for the printed curl line)")
    p.add_argument("--port", type=_port, default=8000, help="where `serve` will listen (for the printed curl line)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("splink", "py4j"):
        logging.getLogger(noisy).setLevel(logging.INFO if args.verbose else logging.ERROR)
    try:
        overrides: dict[str, Any] = {}
        if args.db and is_postgres_url(args.db):
            overrides["database_url"] = args.db
        elif args.db:  # a file named on the command line wins over the environment's database
            overrides.update(db=Path(args.db), database_url=None)
        if args.models_dir:
            overrides["models_dir"] = Path(args.models_dir)
        settings = Settings(**overrides)
    except ValidationError as exc:
        _err(f"crm-dedup: configuration error: {exc.errors()[0]['msg']}")
        return 2
    func: Callable[[argparse.Namespace, Settings], int] = args.func
    # A batch run builds millions of small acyclic objects (records, rows); the cyclic collector
    # would rescan them again and again (15 s of 88 s at 318,000 contacts). The process is short.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return func(args, settings)
    except InputError as exc:
        for problem in exc.problems[:_MAX_PROBLEMS_SHOWN]:
            _err(f"crm-dedup: error: {problem}")
        if len(exc.problems) > _MAX_PROBLEMS_SHOWN:
            _err(f"crm-dedup: … and {len(exc.problems) - _MAX_PROBLEMS_SHOWN} more problems")
        return 2
    except CrmDedupError as exc:
        _err(f"crm-dedup: error: {exc}")
        return 1
    except KeyboardInterrupt:
        _err("crm-dedup: interrupted")
        return 130
    finally:
        if gc_was_enabled:  # main() also runs inside other processes (tests, the API's jobs)
            gc.enable()


if __name__ == "__main__":
    sys.exit(main())
