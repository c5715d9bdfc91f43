"""The `crm-dedup` console script: calls what the API routers call; data on stdout, talk on stderr."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from api.cli import cluster
from api.cli.accounts import add_mlflow_user_parser, cmd_accounts_create, cmd_accounts_rotate_key, cmd_keys
from api.cli.common import GROUPS_CSV_COLUMNS, MAX_PROBLEMS_SHOWN, err, port, probability, region
from api.cli.feedback import cmd_feedback
from api.cli.models import cmd_models_list, cmd_models_promote, cmd_train
from api.cli.scans import cmd_dedupe, cmd_demo, cmd_groups, cmd_import, cmd_scan
from api.cli.serve import cmd_serve
from api.settings import Settings
from resolver.entities import EXTRA_KINDS
from resolver.errors import CrmDedupError, InputError
from resolver.ingest import TARGET_KEYS
from resolver.normalize.region import DEFAULT_REGION
from resolver.records import ENTITIES
from resolver.store import is_postgres_url

__all__ = ["GROUPS_CSV_COLUMNS", "build_parser", "main"]

logger = logging.getLogger("crm_dedup.cli")


# -- parser ----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm-dedup", description=__doc__)
    # `dedupe` works on a file alone: it gets every common option but the store's
    no_store = argparse.ArgumentParser(add_help=False)
    no_store.add_argument("--models-dir", help="model directory (default: the shipped models)")
    no_store.add_argument("-q", "--quiet", action="store_true", help="nothing but errors on stderr")
    no_store.add_argument("-v", "--verbose", action="store_true",
                          help="log what happens on stderr (one line per training step)")
    common = argparse.ArgumentParser(add_help=False, parents=[no_store])
    common.add_argument("--db", help="DuckDB store file or postgresql:// URL (default: env CRM_DEDUP_DATABASE_URL, "
                        "else CRM_DEDUP_DB, else var/crm-dedup.duckdb)")
    sub = parser.add_subparsers(dest="command", required=True)

    def file_args(p: argparse.ArgumentParser) -> None:
        # optional here only so that a file after `--map a=b` is found (_file_after_map); required in fact
        p.add_argument("file", nargs="?", help="amoCRM JSON (.json/.jsonl), CSV or XLSX")
        p.add_argument("--entity", required=True, choices=ENTITIES)
        p.add_argument("--map", nargs="+", metavar="KEY=HEADER",
                       help=f'column map, e.g. name="Полное имя" phone="Рабочий телефон"; KEY is one of '
                            f'{", ".join(TARGET_KEYS)} or an extra field\'s NAME')
        p.add_argument("--field", action="append", metavar="HEADER=KIND",
                       help=f"an extra field to match on, KIND one of {', '.join(EXTRA_KINDS)} "
                            "(e.g. Address=address, 'Дата рождения=date'; or NAME:KIND[:SOURCE])")
        p.add_argument("--region", type=region, default=DEFAULT_REGION, metavar="XX",
                       help="country of local phone numbers written without + or area code (ISO 3166, e.g. US, "
                            "KZ, BY; default RU)")

    p = sub.add_parser("dedupe", parents=[no_store], help="find duplicate groups in a file alone")
    file_args(p)
    p.add_argument("--out", help="groups CSV (default: stdout)")
    p.add_argument("--threshold", type=probability, help="review threshold (match probability) instead of the model's")
    p.set_defaults(func=cmd_dedupe)

    p = sub.add_parser("import", parents=[common], help="normalize a file and upsert it into an account")
    file_args(p)
    p.add_argument("--account", required=True)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("scan", parents=[common], help="score and group an account's whole base")
    p.add_argument("--account", required=True)
    p.add_argument("--entity", choices=ENTITIES, help="default: both")
    p.add_argument("--threshold", type=probability, help="review threshold instead of the model's")
    p.add_argument("--incremental", action="store_true",
                   help="score only records written since the last scan (a full scan when that cannot give "
                        "the same result; the summary says why)")
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
    add_mlflow_user_parser(acc, common)

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
    p.add_argument("--port", type=port, default=8000)
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
    p.add_argument("--port", type=port, default=8000, help="where `serve` will listen (for the printed curl line)")
    p.set_defaults(func=cmd_demo)
    return parser


def _file_after_map(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """`--map a=b FILE`: argparse gives FILE to --map (nargs="+"); an item without "=" at its end is the file."""
    if not hasattr(args, "map") or args.file is not None:
        return
    if args.map and "=" not in args.map[-1]:
        args.file = args.map.pop()
    if args.file is None:
        parser.error(f"{args.command}: the following arguments are required: file")


@contextmanager
def _logging(args: argparse.Namespace) -> Iterator[None]:
    """-q: errors only, Splink's and Python's warnings too; -v: our INFO lines, Splink's warnings (its INFO
    prints whole SQL and object reprs); neither: warnings. The levels are put back afterwards: main() also
    runs inside other processes (tests, the API's jobs)."""
    level = logging.ERROR if args.quiet else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    names = ("", "splink", "py4j", "mlflow", "alembic")
    before = {name: logging.getLogger(name).level for name in names}
    logging.getLogger().setLevel(level)
    for noisy in names[1:]:
        logging.getLogger(noisy).setLevel(logging.ERROR if not args.verbose else logging.WARNING)
    try:
        with warnings.catch_warnings():
            if args.quiet:
                warnings.simplefilter("ignore")
            yield
    finally:
        for name, old in before.items():
            logging.getLogger(name).setLevel(old)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _file_after_map(parser, args)
    with _logging(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    db = getattr(args, "db", None)  # `dedupe` has no store
    try:
        overrides: dict[str, Any] = {}
        if db and is_postgres_url(db):
            overrides["database_url"] = db
        elif db:  # a file named on the command line wins over the environment's database
            overrides.update(db=Path(db), database_url=None)
        if args.models_dir:
            overrides["models_dir"] = Path(args.models_dir)
        settings = Settings(**overrides)
    except ValidationError as exc:
        err(f"crm-dedup: configuration error: {exc.errors()[0]['msg']}")
        return 2
    func: Callable[[argparse.Namespace, Settings], int] = args.func
    # A batch run builds millions of small acyclic objects (records, rows); the cyclic collector
    # would rescan them again and again (15 s of 88 s at 318,000 contacts). The process is short.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return func(args, settings)
    except InputError as exc:
        for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
            err(f"crm-dedup: error: {problem}")
        if len(exc.problems) > MAX_PROBLEMS_SHOWN:
            err(f"crm-dedup: … and {len(exc.problems) - MAX_PROBLEMS_SHOWN} more problems")
        return 2
    except CrmDedupError as exc:
        err(f"crm-dedup: error: {exc}")
        return 1
    except KeyboardInterrupt:
        err("crm-dedup: interrupted")
        return 130
    finally:
        if gc_was_enabled:  # main() also runs inside other processes (tests, the API's jobs)
            gc.enable()
