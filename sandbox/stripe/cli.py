"""The command line: ``python -m sandbox.stripe [serve] ...`` and ``... advance``."""

from __future__ import annotations

import argparse
import json
import os
import sys

import requests

from ..common.serving import STATE_FILE, base_parser, serve
from .app import create_app
from .billing import CLOCK_OUTCOMES
from .cards import DECLINES

def serve_parser() -> argparse.ArgumentParser:
    parser = base_parser("python -m sandbox.stripe [serve]", "Local stand-in for the Stripe API.")
    parser.add_argument("--key", default=os.environ.get("MPANEL_SANDBOX_SECRET"),
                        required="MPANEL_SANDBOX_SECRET" not in os.environ,
                        help="secret key clients send as 'Authorization: Bearer ...' (or MPANEL_SANDBOX_SECRET, which keeps it out of `ps`)")
    parser.add_argument("--webhook-url", default="", help="endpoint that receives events (empty: no delivery)")
    parser.add_argument("--webhook-secret", default=os.environ.get("MPANEL_SANDBOX_WEBHOOK_SECRET", ""),
                        help="whsec_... signing secret for deliveries (or MPANEL_SANDBOX_WEBHOOK_SECRET)")
    parser.add_argument("--webhook-attempts", type=int, default=6, help="attempts per event (default 6)")
    parser.add_argument("--webhook-retry-base", type=float, default=0.5,
                        help="seconds before the first retry, doubling after each (default 0.5)")
    parser.add_argument("--webhook-timeout", type=float, default=10.0, help="seconds to wait for the endpoint")
    parser.add_argument("--webhook-workers", type=int, default=8,
                        help="deliveries in flight at once (default 8); Stripe promises no order")
    parser.add_argument("--webhook-events", default="*",
                        help="comma-separated event types the endpoint wants (default *, 'invoice.*' works)")
    parser.add_argument("--public-url", default=None,
                        help="base URL for the hosted payment page links (default: the address clients used)")
    parser.add_argument("--business-name", default="mpanel sandbox")
    parser.add_argument("--payment-retries", type=int, default=3,
                        help="automatic retries of a failed renewal before giving up (default 3)")
    parser.add_argument("--after-failed-retries", choices=("cancel", "unpaid"), default="cancel",
                        help="what happens to a subscription when retries are exhausted (default cancel)")
    return parser


def advance_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox.stripe advance",
                                     description="Move a subscription through the end of its period.")
    parser.add_argument("--url", required=True, help="the stand-in, e.g. http://127.0.0.1:24111")
    parser.add_argument("subscription", help="sub_... id")
    parser.add_argument("--outcome", choices=CLOCK_OUTCOMES, default="renewal_paid")
    parser.add_argument("--decline-code", choices=sorted(DECLINES), default="generic_decline",
                        help="why a renewal_failed charge declines")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "advance":
        return _advance_command(advance_parser().parse_args(argv[1:]))
    if argv and argv[0] == "serve":
        argv = argv[1:]
    parser = serve_parser()
    args = parser.parse_args(argv)
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret")
    app = create_app(
        args.state_dir / STATE_FILE, args.key, webhook_url=args.webhook_url or None,
        webhook_secret=args.webhook_secret or None, webhook_attempts=args.webhook_attempts,
        webhook_retry_base=args.webhook_retry_base, webhook_timeout=args.webhook_timeout,
        webhook_workers=args.webhook_workers,
        webhook_events=tuple(e.strip() for e in args.webhook_events.split(",") if e.strip()),
        public_url=args.public_url, business_name=args.business_name, payment_retries=args.payment_retries,
        after_failed_retries=args.after_failed_retries)
    serve(app, args)
    return 0


def _advance_command(args: argparse.Namespace) -> int:
    url = f"{args.url.rstrip('/')}/_sandbox/subscriptions/{args.subscription}/advance"
    try:
        response = requests.post(url, json={"outcome": args.outcome, "decline_code": args.decline_code}, timeout=30)
    except requests.RequestException as exc:
        print(f"cannot reach the stand-in at {args.url}: {exc}", file=sys.stderr)
        return 2
    try:
        body = response.json()
    except ValueError:
        print(f"unexpected answer (HTTP {response.status_code}): {response.text[:200]}", file=sys.stderr)
        return 2
    if response.status_code != 200:
        print(f"{body.get('error')}: {body.get('message')}", file=sys.stderr)
        return 1
    sub, invoice = body["subscription"], body["invoice"]
    print(json.dumps({
        "subscription": {**{key: sub[key] for key in ("id", "status", "cancel_at_period_end")},
                         # the period is on the items since API 2025-03-31
                         **{key: sub["items"]["data"][0][key] for key in ("current_period_start", "current_period_end")}},
        "invoice": None if invoice is None else {key: invoice[key] for key in
                                                 ("id", "status", "amount_due", "amount_paid", "attempt_count")},
        "events": body["events"],
    }, indent=2))
    return 0
