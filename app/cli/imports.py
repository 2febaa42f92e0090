"""`mpanel import account|csv`: take over accounts another system left on a web server.

Each account is checked against what is upstream (app/services/operators/imports.py); one that
cannot be taken over unchanged is refused with every reason and nothing written. One that
passes is taken over: the customer (invited by email), the subscription and its rows, the
audit entry naming this command, and the stack's first converge, which takes over the
account, zone, mail domain and mailboxes as they are. `--check` only runs the checks.
Running an interrupted import again finishes it.
"""
from __future__ import annotations

import csv
import json
import sys

from app.settings import Settings

CSV_COLUMNS = ("server", "user", "email", "plan", "billing")


def add_parser(sub) -> None:
    p = sub.add_parser("import", help="take over existing accounts: account SERVER USER, or csv FILE (checks)")
    p.add_argument("what", choices=["account", "csv"])
    p.add_argument("args", nargs="+", metavar="SERVER USER | FILE")
    p.add_argument("--email", help="account: the customer's email (their panel login)")
    p.add_argument("--plan", help="account: the plan (default: the one whose package the account is on)")
    p.add_argument("--billing", default="external", help="account: stripe:SUB_ID or external (default)")
    p.add_argument("--check", action="store_true", help="only check: say what the import would write")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=run)


def run(args) -> int:
    from app.services.operators.imports import ImportRequest

    if args.what == "account":
        if len(args.args) != 2:
            print("mpanel import account: give SERVER USER", file=sys.stderr)
            return 2
        requests = [ImportRequest(args.args[0], args.args[1], args.email or "", args.plan, args.billing)]
    else:
        try:
            with open(args.args[0], newline="") as fh:
                requests = [ImportRequest(r["server"], r["user"], r.get("email") or "", r.get("plan") or None,
                                          r.get("billing") or "external") for r in csv.DictReader(fh)]
        except (OSError, KeyError) as exc:
            print(f"mpanel import csv: {args.args[0]}: needs the columns {', '.join(CSV_COLUMNS)} ({exc})",
                  file=sys.stderr)
            return 2
    settings = Settings.from_env()
    if args.check:
        return _check_all(settings, requests, args.json)
    return _import_all(settings, requests, args.json)


def _import_all(settings: Settings, requests: list, as_json: bool) -> int:
    from app.services.common.refusals import Refused
    from app.services.operators.imports import import_account

    results = []
    for request in requests:
        try:
            done = import_account(settings, request, command=" ".join(["mpanel", *sys.argv[1:]]))
            results.append({"server": request.server, "user": request.user, "imported": done.finished,
                            "subscription": done.subscription_id, "domain": done.domain, "plan": done.plan,
                            "outcome": done.outcome, "resumed": done.resumed, "registered": done.registered,
                            "certificate": done.certificate})
        except Refused as exc:
            results.append({"server": request.server, "user": request.user, "imported": False,
                            "problems": getattr(exc, "problems", [exc.message])})
    if as_json:
        print(json.dumps(results, indent=2, default=str))
    for r in results if not as_json else ():
        if r["imported"]:
            print(f"{r['server']}/{r['user']}: {'finished the interrupted import: ' if r['resumed'] else ''}"
                  f"taken over as sub-{r['subscription']} ({r['domain']}, plan {r['plan']}); first converge: "
                  f"{r['outcome']}")
            if r["certificate"]:
                print(f"  registration: {'taken over (the domain is in the NameSilo account)' if r['registered'] else 'external'}"
                      f"; certificate: {r['certificate']}")
        elif "problems" in r:
            print(f"{r['server']}/{r['user']}: refused, nothing written:")
            for problem in r["problems"]:
                print(f"  - {problem}")
        else:
            print(f"{r['server']}/{r['user']}: rows written as sub-{r['subscription']}, {r['outcome']}; the queued "
                  "converge (or this command again) finishes it")
    return 0 if all(r["imported"] for r in results) else 2


def _check_all(settings: Settings, requests: list, as_json: bool) -> int:
    from app.services.common.refusals import Refused
    from app.services.operators.imports import check_account

    results = []
    for request in requests:
        try:
            plan = check_account(settings, request)
            results.append({"server": request.server, "user": request.user, "ready": True, "domain": plan.domain,
                            "plan": plan.plan["slug"], "customer_records": plan.customer_records,
                            "mail_domain": plan.mail_domain, "registered": plan.registered,
                            "mailboxes": plan.mailboxes, "certificate": plan.certificate})
        except Refused as exc:
            results.append({"server": request.server, "user": request.user, "ready": False,
                            "problems": getattr(exc, "problems", [exc.message])})
    if as_json:
        print(json.dumps(results, indent=2, default=str))
    for r in results if not as_json else ():
        if r["ready"]:
            print(f"{r['server']}/{r['user']}: can be taken over unchanged as {r['domain']} on plan {r['plan']} "
                  f"({len(r['customer_records'])} customer records, mail domain "
                  f"{'yes' if r['mail_domain'] else 'no'}, {len(r['mailboxes'])} mailboxes, registration "
                  f"{'taken over' if r['registered'] else 'external'}); certificate: {r['certificate']}; "
                  "nothing written (--check)")
        else:
            print(f"{r['server']}/{r['user']}: refused, nothing written:")
            for problem in r["problems"]:
                print(f"  - {problem}")
    return 0 if all(r["ready"] for r in results) else 2
