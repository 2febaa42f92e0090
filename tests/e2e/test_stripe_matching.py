"""Stripe matching by our records over HTTP (issue 9 item 5): a Payment Link style session naming a
pending order, paid and delivered by Stripe to the webhook, activates nothing; the order's own
checkout still does."""
from __future__ import annotations

import psycopg

from app.services.orders import billing
from tests.e2e.conftest import seed_payload, wait_for


def _anomalies(settings, sid: int) -> list[tuple]:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT kind, stripe_object_id FROM billing_anomalies WHERE subscription_id = %s",
                            (sid,)).fetchall()


def test_a_payment_link_naming_a_pending_order_activates_nothing_and_its_own_checkout_still_does(mpanel, settings):
    body = mpanel.checkout(seed_payload()).json()
    sid = body["subscriptionId"]
    stripe_ = billing.client(settings)
    product = stripe_.v1.products.create(params={"name": "A one-dollar link"})
    cheap = stripe_.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 100,
                                             "recurring": {"interval": "month"}})
    link = stripe_.v1.checkout.sessions.create(params={
        "mode": "subscription", "line_items": [{"price": cheap.id, "quantity": 1}],
        "success_url": "https://link.example/thanks", "client_reference_id": str(sid)})
    assert mpanel.pay(link.id).status_code == 200

    assert wait_for(lambda: _anomalies(settings, sid), 60, "the foreign checkout to be recorded") == \
        [("checkout_not_ours", link.id)]
    status = mpanel.status(sid)
    assert status["status"] == "pending_payment" and status["provisioningStatus"] == "pending"

    assert mpanel.pay(body["checkoutSessionId"]).status_code == 200
    mpanel.wait_until(sid, status="active")
