"""The checkout service behind POST /api/marketing/checkout-intent and the status reads."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from app import db
from app.db import subscriptions
from app.jobs.defer import request_converge_in
from app.services.billing import close_checkout_session, create_checkout_session
from app.services.eligibility import check_domain
from app.services.orders import abandon_order, find_promo, place_order, returning_customer
from app.settings import Settings
from app.services.validation import ValidationError, parse_checkout
from providers.core.names import to_unicode


def start_checkout(settings: Settings, payload: Any) -> dict:
    """Validate, write the order, open a Stripe Checkout Session; all or nothing.

    The Stripe call runs inside the order's transaction on purpose: if Stripe refuses,
    the rows roll back and the customer can simply try again (the idempotency key
    is the subscription id, which a rolled-back transaction never reuses).

    A customer who left an earlier checkout unpaid and comes back (same email, same
    password) starts over: that order is abandoned and its domain released, the new
    order placed for the same account, and only then, last because Stripe cannot undo
    it, the earlier Stripe session is closed. If Stripe says it was paid meanwhile,
    everything here rolls back and the paid order stands.

    Whether the domain may be ordered at all (app/services/eligibility.py) is decided
    after the earlier unpaid orders are let go (the customer's own abandoned order does
    not stand in the way) and before anything of the new order is written; the order is
    placed under the name's A-label.
    """
    order = parse_checkout(payload)
    override = (settings.MARKETING_OVERRIDE_CODE or "").upper()
    free = bool(settings.MARKETING_TEST_MODE and order.test_mode and override and order.promo_code == override)
    with db.transaction(settings.DATABASE_URL) as conn:
        if order.promo_code and not free and not find_promo(conn, order.promo_code):
            raise ValidationError("promoCode", "is not a valid promotion code")
        returning = returning_customer(conn, order)
        earlier = returning.unpaid if returning else []
        for unpaid in earlier:
            abandon_order(conn, unpaid["id"])
        order = replace(order, domain=check_domain(conn, settings, order))
        placed = place_order(conn, settings, order, free=free, returning=returning)
        result = {"subscriptionId": placed.subscription_id, "plan": placed.plan["slug"],
                  "billingCycle": order.billing_cycle, "amountCents": placed.amount_cents,
                  "domain": order.domain, "domainUnicode": to_unicode(order.domain),
                  "testMode": order.test_mode}
        if free:
            # The seed's $0 test checkout: no Stripe at all, paid by definition.
            subscriptions.set_status(conn, placed.subscription_id, "active")
            if settings.MARKETING_AUTO_PROVISION:
                request_converge_in(conn, placed.subscription_id)
            result.update(status="active", checkoutUrl=None, checkoutSessionId=None)
        else:
            session = create_checkout_session(conn, settings, placed, order.email, order.billing_cycle)
            subscriptions.set_checkout_session(conn, placed.subscription_id, session.id)
            result.update(status="pending_payment", checkoutUrl=session.url, checkoutSessionId=session.id)
        for unpaid in earlier:
            if unpaid["stripe_checkout_session_id"]:
                close_checkout_session(settings, unpaid["stripe_checkout_session_id"])
    return result


def provisioning_status(settings: Settings, *, subscription_id: int | None = None,
                        session_id: str | None = None) -> dict | None:
    """What the marketing site (by id, with its API key) or the customer (by session id) sees."""
    with db.transaction(settings.DATABASE_URL) as conn:
        sub = subscriptions.progress(conn, subscription_id=subscription_id, session_id=session_id)
        if sub is None:
            return None
        steps = subscriptions.latest_run_steps(conn, sub["id"])
    return {
        "subscriptionId": sub["id"], "status": sub["status"], "provisioningStatus": sub["provisioning_status"],
        "error": sub["provisioning_error"], "domain": sub["domain"], "domainMode": sub["domain_mode"],
        "domainStatus": sub["domain_status"], "websiteStatus": sub["website_status"],
        "cpanelUrl": sub["cpanel_url"],
        "certificateExpires": sub["ssl_expires_at"].isoformat() if sub["ssl_expires_at"] else None,
        "steps": [{"resource": s["resource_name"], "kind": s["resource_type"], "op": s["op"], "status": s["status"],
                   "at": s["at"].isoformat(), "durationMs": s["duration_ms"]}
                  for s in sorted(steps, key=lambda s: s["at"])],
    }
