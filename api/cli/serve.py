"""`serve`: the HTTP API under uvicorn."""

from __future__ import annotations

import argparse
import gc
import signal

from api.cli.common import err
from api.settings import Settings


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the API under uvicorn until SIGINT / SIGTERM (uvicorn finishes open requests, then exits 0)."""
    import uvicorn

    from api.app import create_app
    from api.services import Services

    # Open the store and models once up front: a locked store or a broken model then stops here
    # with one line on stderr, instead of inside uvicorn's lifespan with a traceback.
    Services.open(settings).close()
    # main() pauses the cyclic GC for short batch runs; a server runs for days and must collect.
    gc.enable()
    # uvicorn shuts down gracefully on SIGTERM, then restores the handler it found and raises the
    # signal again; with Python's default handler that kills the process (-15) after a clean stop.
    # This handler takes the re-raised signal, so a graceful stop exits 0 (docker, systemd).
    stopped: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: stopped.append(sig))
    err(f"crm-dedup API on http://{args.host}:{args.port} (docs at http://{args.host}:{args.port}/docs), "
         f"store {settings.db}")
    try:
        uvicorn.run(create_app(settings), host=args.host, port=args.port,
                    log_level="info" if args.verbose else "warning")
    finally:
        signal.signal(signal.SIGTERM, previous)
    err("crm-dedup API stopped" + (" (SIGTERM)" if stopped else ""))
    return 0
