"""`python -m amocrm.standin --port 8765 --contacts 2000 --companies 500`: a stand-in serving until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from amocrm.standin.server import AmoStandin
from amocrm.standin.state import ACCESS_SECONDS, DEFAULT_RATE


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m amocrm.standin --port 8765 --contacts 2000 --companies 500`: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m amocrm.standin", description="a local amoCRM stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--companies", type=int, default=500)
    parser.add_argument("--account-id", type=int, default=29000000)
    parser.add_argument("--subdomain", default="example")
    parser.add_argument("--country", default="RU")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="requests/s per account (0: no limit)")
    parser.add_argument("--client-id", default="standin-client")
    parser.add_argument("--client-secret", default="standin-secret-0123456789")
    parser.add_argument("--redirect-uri", default="http://127.0.0.1:8000/amocrm/oauth/callback")
    parser.add_argument("--disable-hook", default=None, help="URL amoCRM calls when the integration is switched off")
    parser.add_argument("--expires-in", type=int, default=ACCESS_SECONDS)
    args = parser.parse_args(argv)
    standin = AmoStandin(client_id=args.client_id, client_secret=args.client_secret, redirect_uri=args.redirect_uri,
                         rate_limit=args.rate, expires_in=args.expires_in, disable_hook=args.disable_hook,
                         host=args.host, port=args.port)
    standin.seed(args.account_id, subdomain=args.subdomain, contacts=args.contacts, companies=args.companies,
                 country=args.country)
    standin.start()
    sys.stderr.write(f"amoCRM stand-in on {standin.url}: account {args.account_id} ({args.subdomain}), "
                     f"{args.contacts} contacts, {args.companies} companies, {args.rate:g} requests/s\n"
                     f"install link: POST {standin.url}/_standin/code {{\"account_id\": {args.account_id}}}\n")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.stop()
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
