"""`mpanel billing anomalies`: what Stripe events claimed that our records do not support.

Stripe events act on an order only through the Stripe ids stored on it; anything else an event
claimed (a Payment Link naming an order, a payment of another amount or price, a foreign
subscription) changes nothing and is kept in billing_anomalies for a person (migration 0011).
This lists them, so that person can find them: open ones by default, all with --all.
"""
from __future__ import annotations

import json

from app import db
from app.db.orders import stripe_events
from app.settings import Settings

COLUMNS = ("id", "created_at", "kind", "subscription_id", "stripe_object_id", "stripe_event_id", "event_type",
           "resolved_at", "detail")


def _plain(row: dict) -> dict:
    return {k: (row[k].isoformat() if hasattr(row[k], "isoformat") else row[k]) for k in COLUMNS}


def anomalies(settings: Settings, *, include_resolved: bool = False, subscription_id: int | None = None,
              as_json: bool = False) -> int:
    with db.transaction(settings.DATABASE_URL) as conn:
        rows = [_plain(r) for r in stripe_events.anomalies(conn, include_resolved=include_resolved,
                                                            subscription_id=subscription_id)]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no open billing anomalies" if not include_resolved else "no billing anomalies")
        return 0
    for r in rows:
        state = f"resolved {r['resolved_at'][:19]}" if r["resolved_at"] else "open"
        order = f"order {r['subscription_id']}" if r["subscription_id"] is not None else "no order"
        print(f"#{r['id']}  {r['created_at'][:19]}  {r['kind']:22} {order:12} {state}")
        print(f"      {r['event_type']} {r['stripe_event_id']}  object {r['stripe_object_id'] or '-'}")
        print(f"      {r['detail']}")
    print(f"{len(rows)} {'open ' if not include_resolved else ''}billing anomal{'y' if len(rows) == 1 else 'ies'}")
    return 0
