"""Stripe events -> desired state. Nothing here provisions: it changes rows and asks for a converge.

Events arrive at least once and in any order, so a handler never trusts the event's
snapshot when order matters: it re-reads the subscription from Stripe and applies
that (the latest truth). Applying the same truth twice changes nothing, which makes
duplicates and shuffles harmless.

Billing status -> our status:
  active/trialing -> active        (a suspended account is reactivated)
  past_due/unpaid -> past_due      (suspended once the grace period, SUSPEND_AFTER_DAYS, is over)
  canceled/incomplete_expired -> canceled, then terminated (stack destroyed) after TERMINATE_AFTER_DAYS
  cancel_at_period_end            -> remembered; nothing changes until Stripe ends the subscription
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg

from app import db
from app.services import billing
from app.services.orders import abandon_order
from app.settings import Settings

log = logging.getLogger("mpanel.lifecycle")

PAID = ("paid", "no_payment_required")


@dataclass
class Outcome:
    """What processing one event decided; actions run after the transaction commits."""

    converge: set[int] = field(default_factory=set)
    emails: list[tuple[int, str]] = field(default_factory=list)


def _get(obj: Any, *path: str, default=None):
    for key in path:
        if obj is None:
            return default
        obj = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    return default if obj is None else obj


def _subscription_by(conn: psycopg.Connection, *, our_id=None, stripe_id=None, session_id=None) -> dict | None:
    for column, value in (("id", our_id), ("stripe_subscription_id", stripe_id),
                          ("stripe_checkout_session_id", session_id)):
        if value:
            try:
                row = conn.execute(f"SELECT * FROM subscriptions WHERE {column} = %s FOR UPDATE",
                                   (int(value) if column == "id" else value,)).fetchone()
            except ValueError:
                continue
            if row:
                return row
    return None


def _ts(value) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(value), dt.timezone.utc) if value else None


def apply_stripe_subscription(conn: psycopg.Connection, settings: Settings, sub: dict, remote: Any,
                              outcome: Outcome) -> None:
    """Make our subscription row agree with Stripe's subscription object."""
    status = _get(remote, "status")
    items = _get(remote, "items", "data") or []
    price_id = _get(items[0], "price", "id") if items else None
    # Since API 2025-03-31 the billing period lives on the subscription item.
    period_end = _get(remote, "current_period_end") or (_get(items[0], "current_period_end") if items else None)
    was = sub["status"]
    if was == "abandoned":
        # Its checkout was closed unpaid, so Stripe cannot bill it; if it ever says otherwise
        # a person must look (refund, or restore the order), never a silent rebuild.
        if status in ("active", "trialing", "past_due"):
            log.error("subscription %s was abandoned but Stripe says %s: refund or restore it by hand",
                      sub["id"], status)
            conn.execute("UPDATE subscriptions SET provisioning_error = %s, updated_at = now() WHERE id = %s",
                         (f"abandoned order billed by Stripe ({status}): refund or restore by hand", sub["id"]))
        return
    new = was
    if status in ("active", "trialing"):
        new = "active" if was in ("pending_payment", "active", "past_due", "suspended") else was
    elif status in ("past_due", "unpaid"):
        new = "past_due" if was in ("active", "past_due", "pending_payment") else was
    elif status in ("canceled", "incomplete_expired"):
        new = "canceled" if was not in ("terminated",) else was

    updates: dict[str, Any] = {
        "stripe_subscription_id": _get(remote, "id"), "stripe_customer_id": _get(remote, "customer"),
        "cancel_at_period_end": bool(_get(remote, "cancel_at_period_end", default=False)),
        "current_period_end": _ts(period_end),
    }
    if new != was:
        updates["status"] = new
        log.info("subscription %s: %s -> %s (Stripe says %s)", sub["id"], was, new, status)
    if new == "past_due" and was != "past_due":
        updates["past_due_since"] = dt.datetime.now(dt.timezone.utc)
    if new == "active":
        updates["past_due_since"] = None
    if new == "canceled" and was != "canceled":
        updates["terminate_after"] = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=settings.TERMINATE_AFTER_DAYS)
    if price_id:
        plan = billing.plan_for_price(conn, price_id)
        if plan:
            cycle = "yearly" if plan["stripe_price_yearly"] == price_id else "monthly"
            if (plan["id"], cycle) != (sub["plan_id"], sub["billing_cycle"]):
                updates.update(plan_id=plan["id"], billing_cycle=cycle)
                log.info("subscription %s: plan changed to %s (%s)", sub["id"], plan["slug"], cycle)
    sets = ", ".join(f"{k} = %({k})s" for k in updates)
    conn.execute(f"UPDATE subscriptions SET {sets}, updated_at = now() WHERE id = %(sid)s", {**updates, "sid": sub["id"]})

    if new == "active" and was == "suspended":
        outcome.emails.append((sub["id"], "reactivated"))
    if new != was or "plan_id" in updates:
        outcome.converge.add(sub["id"])
    enforce_deadlines(conn, settings, outcome, only=sub["id"])


def enforce_deadlines(conn: psycopg.Connection, settings: Settings, outcome: Outcome, only: int | None = None) -> None:
    """Past-due beyond the grace period -> suspended; canceled past retention -> terminated."""
    scope = "AND id = %(only)s" if only else ""
    grace = dt.timedelta(days=settings.SUSPEND_AFTER_DAYS)
    for row in conn.execute(f"""UPDATE subscriptions SET status = 'suspended', updated_at = now()
                                WHERE status = 'past_due' AND past_due_since <= now() - %(grace)s {scope}
                                RETURNING id""", {"grace": grace, "only": only}).fetchall():
        outcome.converge.add(row["id"])
        outcome.emails.append((row["id"], "suspended"))
    for row in conn.execute(f"""UPDATE subscriptions SET status = 'terminated', updated_at = now()
                                WHERE status = 'canceled' AND terminate_after <= now() {scope}
                                RETURNING id""", {"only": only}).fetchall():
        outcome.converge.add(row["id"])
        outcome.emails.append((row["id"], "canceled"))


# --- handlers: one per event family ---------------------------------------------------------

def on_checkout_paid(conn, settings, obj, outcome: Outcome) -> None:
    # Money decisions never rest on the event's snapshot: Stripe says what the session is now.
    obj = billing.retrieve_session(settings, _get(obj, "id"))
    if _get(obj, "payment_status") not in PAID:
        return  # e.g. a delayed payment method: wait for async_payment_succeeded
    sub = _subscription_by(conn, our_id=_get(obj, "client_reference_id") or _get(obj, "metadata", "subscription_id"),
                           session_id=_get(obj, "id"))
    if sub is None:
        log.warning("checkout session %s matches no subscription", _get(obj, "id"))
        return
    conn.execute("UPDATE subscriptions SET stripe_checkout_session_id = coalesce(stripe_checkout_session_id, %s), "
                 "stripe_customer_id = coalesce(%s, stripe_customer_id) WHERE id = %s",
                 (_get(obj, "id"), _get(obj, "customer"), sub["id"]))
    stripe_sub_id = _get(obj, "subscription")
    stripe_sub_id = stripe_sub_id if isinstance(stripe_sub_id, str) else _get(stripe_sub_id, "id")
    if stripe_sub_id:
        apply_stripe_subscription(conn, settings, sub, billing.retrieve_subscription(settings, stripe_sub_id), outcome)
    elif sub["status"] == "pending_payment":
        conn.execute("UPDATE subscriptions SET status = 'active', updated_at = now() WHERE id = %s", (sub["id"],))
        outcome.converge.add(sub["id"])
    if not settings.MARKETING_AUTO_PROVISION:
        outcome.converge.discard(sub["id"])


def on_subscription_changed(conn, settings, obj, outcome: Outcome) -> None:
    sub = _subscription_by(conn, stripe_id=_get(obj, "id"), our_id=_get(obj, "metadata", "subscription_id"))
    if sub is None:
        log.warning("Stripe subscription %s matches none of ours", _get(obj, "id"))
        return
    apply_stripe_subscription(conn, settings, sub, billing.retrieve_subscription(settings, _get(obj, "id")), outcome)


def on_invoice(conn, settings, obj, outcome: Outcome) -> None:
    stripe_sub_id = (_get(obj, "parent", "subscription_details", "subscription") or _get(obj, "subscription"))
    if not stripe_sub_id:
        return
    sub = _subscription_by(conn, stripe_id=stripe_sub_id,
                           our_id=_get(obj, "parent", "subscription_details", "metadata", "subscription_id"))
    if sub is None:
        return
    # Payments are recorded from payment_intent.* events (one row per intent); an invoice
    # event only moves the subscription.
    apply_stripe_subscription(conn, settings, sub, billing.retrieve_subscription(settings, stripe_sub_id), outcome)


def on_payment_intent(conn, settings, obj, outcome: Outcome) -> None:
    succeeded = _get(obj, "status") == "succeeded"
    error = _get(obj, "last_payment_error") or {}
    sub_id = None
    invoice_id = _get(obj, "invoice")
    row = conn.execute("SELECT id FROM subscriptions WHERE stripe_customer_id = %s ORDER BY id DESC LIMIT 1",
                       (_get(obj, "customer"),)).fetchone() if _get(obj, "customer") else None
    if row:
        sub_id = row["id"]
    _record_payment(conn, sub_id, _get(obj, "id"), invoice_id, _get(obj, "amount", default=0),
                    _get(obj, "currency", default="usd"), "succeeded" if succeeded else "failed",
                    _get(error, "decline_code") or _get(error, "code"))


def _record_payment(conn, sub_id, intent_id, invoice_id, amount, currency, status, failure_code) -> None:
    conn.execute("""INSERT INTO payments (subscription_id, stripe_payment_intent_id, stripe_invoice_id, amount_cents,
                                         currency, status, failure_code)
                    VALUES (%s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (stripe_payment_intent_id) DO UPDATE SET status = excluded.status,
                         failure_code = excluded.failure_code""",
                 (sub_id, intent_id, invoice_id, amount, currency, status, failure_code))


def abandon_expired_checkout(conn: psycopg.Connection, settings: Settings, session_id: str) -> bool:
    """Abandon the order whose Stripe checkout has expired unpaid (Stripe re-read, never the
    event's snapshot); its domain may be ordered again. True when an order was abandoned."""
    if _get(billing.retrieve_session(settings, session_id), "status") != "expired":
        return False
    return _abandon_order_of(conn, session_id, "expired unpaid")


def _abandon_order_of(conn: psycopg.Connection, session_id: str, why: str) -> bool:
    sub = _subscription_by(conn, session_id=session_id)
    if sub is None or not abandon_order(conn, sub["id"]):
        return False
    log.info("subscription %s: checkout %s %s; order abandoned", sub["id"], session_id, why)
    return True


def on_checkout_expired(conn, settings, obj, outcome: Outcome) -> None:
    """Stripe closed a checkout that was never paid (24 h by default, or the customer started over)."""
    abandon_expired_checkout(conn, settings, _get(obj, "id"))


def on_checkout_payment_failed(conn, settings, obj, outcome: Outcome) -> None:
    """A delayed payment method (bank debit) failed: nothing is built, the order is abandoned so
    the customer can check out again and the domain is free."""
    obj = billing.retrieve_session(settings, _get(obj, "id"))
    if _get(obj, "status") != "complete" or _get(obj, "payment_status") in PAID:
        return  # an open session can still be paid; a paid one is not ours to abandon
    _abandon_order_of(conn, _get(obj, "id"), "had its delayed payment fail")


HANDLERS = {
    "checkout.session.completed": on_checkout_paid,
    "checkout.session.async_payment_failed": on_checkout_payment_failed,
    "checkout.session.expired": on_checkout_expired,
    "checkout.session.async_payment_succeeded": on_checkout_paid,
    "customer.subscription.created": on_subscription_changed,
    "customer.subscription.updated": on_subscription_changed,
    "customer.subscription.deleted": on_subscription_changed,
    "invoice.paid": on_invoice,
    "invoice.payment_succeeded": on_invoice,
    "invoice.payment_failed": on_invoice,
    "payment_intent.succeeded": on_payment_intent,
    "payment_intent.payment_failed": on_payment_intent,
}


def process_event(settings: Settings, event_id: str) -> Outcome:
    """Apply one recorded Stripe event (once: processed_at is set in the same transaction)."""
    outcome = Outcome()
    with db.transaction(settings.DATABASE_URL) as conn:
        row = conn.execute("SELECT type, payload FROM stripe_events WHERE id = %s AND processed_at IS NULL "
                           "FOR UPDATE", (event_id,)).fetchone()
        if row is None:
            return outcome
        handler = HANDLERS.get(row["type"])
        if handler:
            handler(conn, settings, row["payload"]["data"]["object"], outcome)
        conn.execute("UPDATE stripe_events SET processed_at = now() WHERE id = %s", (event_id,))
    return outcome


def record_event(settings: Settings, event: dict) -> tuple[bool, bool]:
    """Keep the event (unique id). Returns (new, needs_processing): a repeat delivery of an
    event whose enqueue failed still needs processing, so Stripe's retry gets it done."""
    from psycopg.types.json import Jsonb

    with db.transaction(settings.DATABASE_URL) as conn:
        row = conn.execute(
            """INSERT INTO stripe_events (id, type, created, payload) VALUES (%s, %s, to_timestamp(%s), %s)
               ON CONFLICT (id) DO UPDATE SET received_at = stripe_events.received_at
               RETURNING processed_at, (xmax = 0) AS inserted""",
            (event["id"], event["type"], event.get("created") or 0, Jsonb(event))).fetchone()
    return row["inserted"], row["processed_at"] is None
