"""The CLI commands for running as many processes: `crm-dedup db upgrade`, `crm-dedup worker`, and
`crm-dedup serve --workers N` (several API processes on one port, PostgreSQL store only)."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import threading
from typing import Any

from api.cli.common import err
from api.settings import Settings
from resolver.store import open_store


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("give 1..64")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 1.0 <= value <= 3600.0:
        raise argparse.ArgumentTypeError("give 1..3600 seconds")
    return value


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the schema migrations the store lacks (both stores also do this when they open)."""
    with open_store(settings.store_target) as store:
        version = store.migrate()
        err(f"store {store.path} is at schema version {version}")
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Take scan and retrain jobs from the PostgreSQL queue until SIGTERM / SIGINT (the running job finishes)."""
    from api.services import Services
    from api.worker import Worker

    if settings.database_url is None:
        err("crm-dedup: error: a worker needs the PostgreSQL store: set CRM_DEDUP_DATABASE_URL (or --db postgresql://…)")
        return 2
    gc.enable()  # main() pauses the cyclic GC for short batch runs; a worker runs for days
    services = Services.open(settings)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda s, f: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker = Worker(services, lease_seconds=args.lease_seconds, poll_seconds=args.poll_seconds)
        err(f"crm-dedup worker {worker.name} on {settings.store_name}")
        ran = worker.run(stop, max_jobs=args.max_jobs)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        services.close()
    err(f"crm-dedup worker stopped after {ran} job(s)")
    return 0


def serve_workers(args: argparse.Namespace, settings: Settings) -> int:
    """`serve --workers N` (N > 1): N API processes on one port (uvicorn's), each building its own app from
    the environment. Only on PostgreSQL: a DuckDB file has one writer process."""
    import uvicorn

    if settings.database_url is None:
        err("crm-dedup: error: --workers above 1 needs the PostgreSQL store: set CRM_DEDUP_DATABASE_URL "
             "(a DuckDB file is written by one process)")
        return 2
    # the worker processes read their settings from the environment: hand down what the flags set
    os.environ["CRM_DEDUP_DATABASE_URL"] = settings.database_url
    if settings.models_dir is not None:
        os.environ["CRM_DEDUP_MODELS_DIR"] = str(settings.models_dir)
    gc.enable()
    with open_store(settings.store_target):  # opened (and migrated) once: a bad URL stops here, in one line
        pass
    err(f"crm-dedup API on http://{args.host}:{args.port} with {args.workers} workers, store {settings.store_name}")
    uvicorn.run("api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level="info" if args.verbose else "warning")
    err("crm-dedup API stopped")
    return 0


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """`db upgrade` and `worker`; `serve --workers` is added by `add_serve_options`."""
    p = sub.add_parser("db", parents=[common], help="the store's schema")
    db = p.add_subparsers(dest="db_command", required=True)
    pu = db.add_parser("upgrade", parents=[common], help="apply the schema migrations the store lacks")
    pu.set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser("worker", parents=[common],
                       help="run queued scan and retrain jobs (PostgreSQL store; any number, any machine)")
    p.add_argument("--lease-seconds", type=_seconds, default=30.0,
                   help="a job whose worker stops renewing this lease is taken by another (default 30)")
    p.add_argument("--poll-seconds", type=_seconds, default=1.0, help="wait between looks at an empty queue")
    p.add_argument("--max-jobs", type=_positive, default=None, help="exit after this many jobs")
    p.set_defaults(func=cmd_worker)


def add_serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=_positive, default=1,
                   help="API processes on the port (above 1: PostgreSQL store only)")
