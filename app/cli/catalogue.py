"""`mpanel plans` and `mpanel coupons`: the operator's own catalogue.

Every database starts with the sandbox's catalogue (migration 0002: three plans, the coupon
LAUNCH20, web server 1 at 127.0.0.1); a production install reviews the plans, retires LAUNCH20
and adds its own (`mpanel config check` refuses production until it has). A plan is never
deleted, only retired: subscriptions keep pointing at it. A price change takes the new Stripe
price with it: the price a subscription pays is Stripe's, and the one found by lookup key
(mpanel:<slug>:<cycle>) would still be the old amount.
"""
from __future__ import annotations

import argparse
import json
import sys

from app import db
from app.db.orders import catalogue
from app.settings import Settings

PLAN_LINE = "{slug:18} {active:8} {name:22} {whm_package:18} {monthly:>9} {yearly:>9}  {stripe}"


def _money(cents: int, currency: str) -> str:
    return f"{cents / 100:.2f} {currency}"


def add_parsers(sub) -> None:
    p = sub.add_parser("plans", help="the plans on sale: list, add, update, retire")
    p.add_argument("action", choices=["list", "add", "update", "retire"])
    p.add_argument("slug", nargs="?", help="add/update/retire: the plan's slug (what the checkout names)")
    p.add_argument("--name")
    p.add_argument("--whm-package", help="the WHM package accounts of this plan get (must exist in WHM)")
    p.add_argument("--disk-mb", type=int, dest="disk_quota_mb")
    p.add_argument("--bandwidth-mb", type=int, dest="bandwidth_mb")
    p.add_argument("--mailboxes", type=int, dest="mailbox_count")
    p.add_argument("--mailbox-quota-mb", type=int, dest="mailbox_quota_mb")
    p.add_argument("--monthly-cents", type=int, dest="price_monthly_cents")
    p.add_argument("--yearly-cents", type=int, dest="price_yearly_cents")
    p.add_argument("--currency")
    p.add_argument("--stripe-price-monthly", help="the Stripe price (price_...) of the monthly cycle")
    p.add_argument("--stripe-price-yearly", help="the Stripe price (price_...) of the yearly cycle")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=plans)

    c = sub.add_parser("coupons", help="promotion codes: list, add, retire")
    c.add_argument("action", choices=["list", "add", "retire"])
    c.add_argument("code", nargs="?")
    c.add_argument("--percent-off", type=int)
    c.add_argument("--amount-off-cents", type=int)
    c.add_argument("--expires", help="add: when it stops working (ISO date or timestamp); default never")
    c.add_argument("--json", action="store_true")
    c.set_defaults(fn=coupons)


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def _show(rows: list[dict], as_json: bool, line) -> int:
    """A list: the rows as JSON for scripts, else one line a row for people."""
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        for r in rows:
            print(line(r))
    return 0


def _plan_line(r: dict) -> str:
    return PLAN_LINE.format(slug=r["slug"], active="on sale" if r["active"] else "retired", name=r["name"],
                            whm_package=r["whm_package"], monthly=_money(r["price_monthly_cents"], r["currency"]),
                            yearly=_money(r["price_yearly_cents"], r["currency"]),
                            stripe=" ".join(filter(None, (r["stripe_price_monthly"], r["stripe_price_yearly"])))
                            or "(Stripe prices made at the first checkout)")


def _coupon_line(r: dict) -> str:
    off = f"{r['percent_off']}%" if r["percent_off"] else _money(r["amount_off_cents"], "")
    return (f"{r['code']:16} {'on sale' if r['active'] else 'retired':8} {off:>8} off  "
            f"expires {r['expires_at'] or 'never'}")


def plans(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    given = {k: getattr(args, k) for k in ("name", "whm_package", "disk_quota_mb", "bandwidth_mb", "mailbox_count",
                                           "mailbox_quota_mb", "price_monthly_cents", "price_yearly_cents",
                                           "currency", "stripe_price_monthly", "stripe_price_yearly")
             if getattr(args, k) is not None}
    if args.action != "list" and not args.slug:
        return _fail(f"mpanel plans {args.action} needs the plan's slug")
    with db.transaction(settings.DATABASE_URL) as conn:
        if args.action == "list":
            return _show(catalogue.all_plans(conn), args.json, _plan_line)
        if args.action == "add":
            missing = [f"--{n}" for n, k in (("name", "name"), ("whm-package", "whm_package"), ("disk-mb", "disk_quota_mb"),
                                             ("bandwidth-mb", "bandwidth_mb"), ("mailboxes", "mailbox_count"),
                                             ("monthly-cents", "price_monthly_cents"),
                                             ("yearly-cents", "price_yearly_cents")) if k not in given]
            if missing:
                return _fail(f"mpanel plans add: give {', '.join(missing)}")
            row = catalogue.add_plan(conn, {"slug": args.slug, **given})
            if row is None:
                return _fail(f"a plan {args.slug} exists: `mpanel plans update {args.slug} ...`")
            print(f"plan {args.slug} on sale")
            return 0
        plan = catalogue.plan_by_slug(conn, args.slug)
        if plan is None:
            return _fail(f"no plan {args.slug}: `mpanel plans list`")
        if args.action == "retire":
            catalogue.update_plan(conn, args.slug, {"active": False})
            print(f"plan {args.slug} retired: no new checkout; its subscriptions keep it")
            return 0
        for cycle in ("monthly", "yearly"):
            price, stripe = f"price_{cycle}_cents", f"stripe_price_{cycle}"
            if price in given and given[price] != plan[price] and stripe not in given:
                return _fail(f"a new {cycle} price needs its Stripe price: create it in Stripe and give "
                             f"--stripe-price-{cycle} price_...")
        catalogue.update_plan(conn, args.slug, {**given, "active": True})
        print(f"plan {args.slug} updated ({', '.join(sorted(given)) or 'back on sale'})")
    return 0


def coupons(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    with db.transaction(settings.DATABASE_URL) as conn:
        if args.action == "list":
            return _show(catalogue.all_coupons(conn), args.json, _coupon_line)
        if not args.code:
            return _fail(f"mpanel coupons {args.action} needs the code")
        if args.action == "add":
            if (args.percent_off is None) == (args.amount_off_cents is None):
                return _fail("mpanel coupons add: give one of --percent-off or --amount-off-cents")
            if catalogue.add_coupon(conn, args.code, args.percent_off, args.amount_off_cents, args.expires) is None:
                return _fail(f"a coupon {args.code} exists")
            print(f"coupon {args.code} on sale")
            return 0
        if catalogue.retire_coupon(conn, args.code) is None:
            return _fail(f"no coupon {args.code}: `mpanel coupons list`")
        print(f"coupon {args.code} retired: no new checkout takes it; orders sold with it keep their terms")
    return 0
