"""What the stand-ins' ``main()`` functions share: common options, logging, waitress."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import waitress

# The stand-in's database inside --state-dir (a state.json left there by an older
# sandbox is ignored).
STATE_FILE = "state.sqlite3"


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True,
                        help=f"directory holding {STATE_FILE} (created if missing)")
    parser.add_argument("--threads", type=int, default=8,
                        help="waitress worker threads (minimum 8)")
    parser.add_argument("--log-level", default="INFO")
    return parser


def serve(app, args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # Clients run several provisioning jobs at once and createacct may hang on
    # purpose (timeout faults): too few threads would queue unrelated requests.
    waitress.serve(app, host=args.host, port=args.port, threads=max(8, args.threads))
