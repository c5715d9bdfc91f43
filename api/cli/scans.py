"""The data commands: `dedupe` (a file alone), `import`, `scan`, `groups` and `demo`."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from api.cli.common import (
    check_out,
    emit_groups,
    err,
    extra_fields,
    progress_bar,
    read_normalized,
    scan_model,
    scan_one,
    summary,
)
from api.settings import Settings
from resolver.entities import spec_for
from resolver.errors import InputError
from resolver.records import ENTITIES, Entity
from resolver.scan import ingest, ingest_normalized, scan_account
from resolver.store import Store, open_store


def cmd_dedupe(args: argparse.Namespace, settings: Settings) -> int:
    """A file alone: read, normalize, score, group; the store is in memory and thrown away."""
    t0 = time.perf_counter()
    check_out(args.out)
    entity: Entity = spec_for(args.entity).entity
    extras = extra_fields(args.field)
    batches = read_normalized(args, entity, extras, keep_raw=False)  # the store is thrown away: no raw objects
    with Store(":memory:") as store:
        with progress_bar("normalizing", not args.quiet) as progress:
            ingest_normalized(store, account_id="file", entity=entity, batches=batches, progress=progress)
        store.set_extra_fields("file", entity, extras)
        result = scan_one(store, settings, "file", entity, threshold=args.threshold, show=not args.quiet,
                           served=False)
        rows = store.groups_export("file", entity)
    emit_groups(rows, args.out)
    summary(result, rows, args.out, time.perf_counter() - t0)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    entity: Entity = spec_for(args.entity).entity
    extras = extra_fields(args.field)
    batches = read_normalized(args, entity, extras)
    with open_store(settings.store_target) as store:
        with progress_bar("importing", not args.quiet) as progress:
            n = ingest_normalized(store, account_id=args.account, entity=entity, batches=batches, progress=progress)
        if extras:
            store.set_extra_fields(args.account, entity, extras)
        total = store.count_records(args.account, entity)
    err(f"imported {n} {entity} records into account {args.account} ({total} live {entity}s) in {settings.store_name}")
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
            if args.incremental:
                model = scan_model(settings, entity, args.threshold, account=args.account)
                result = scan_account(store, account_id=args.account, model=model, incremental=True,
                                      phase=lambda label, i, n: progress_bar(label, not args.quiet))
            else:
                result = scan_one(store, settings, args.account, entity, threshold=args.threshold,
                                   show=not args.quiet)
            summary(result, store.groups_export(args.account, entity), None, time.perf_counter() - t0)
            if result.mode == "incremental":
                err(f"incremental: {result.n_changed} records changed since the last scan, "
                     f"{result.n_rescored} pairs scored again")
            elif args.incremental:
                err(f"full scan: {result.fallback}")
    return 0


def cmd_groups(args: argparse.Namespace, settings: Settings) -> int:
    check_out(args.out)
    entity: Entity = spec_for(args.entity).entity
    with open_store(settings.store_target) as store:
        if store.last_scan(args.account, entity) is None:
            raise InputError.one(f"account {args.account!r} has no {entity} scan in {settings.store_name}; "
                                 "run `crm-dedup scan` first")
        rows = store.groups_export(args.account, entity)
    emit_groups(rows, args.out)
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
            result = scan_one(store, settings, args.account, entity, threshold=None, show=not args.quiet)
            rows = store.groups_export(args.account, entity)
            summary(result, rows, None, time.perf_counter() - t0)
            _print_top_groups(rows, limit=args.show)
        key, note = _demo_key(store, args.account)
    err(f"store: {settings.store_name} (account {args.account!r}); "
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
