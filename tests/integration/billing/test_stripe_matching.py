"""Stripe matching by our records (issue 9 item 5), at the service level against the Stripe stand-in:
an event acts on an order only through the Stripe ids stored on it, and a checkout activates its
order only when it paid exactly what the order was priced at. Anything else is kept in
billing_anomalies for a person and changes nothing."""
from __future__ import annotations

import secrets

import pytest
import requests

from app.devtools.demo import seed_checkout
from app.services.orders import billing, lifecycle
from app.services.orders.checkout import start_checkout


# Orders made here are ended afterwards (tests/integration/billing/conftest.py).
pytestmark = pytest.mark.usefixtures("nothing_left_to_build")


# --- what a payer and Stripe do ----------------------------------------------------------------

def _our_checkout(settings, **changes) -> dict:
    """An order placed through our checkout: {subscriptionId, checkoutSessionId, amountCents, ...}."""
    return start_checkout(settings, {**seed_checkout(secrets.token_hex(4)), **changes})


def _cheap_price(settings) -> str:
    stripe_ = billing.client(settings)
    product = stripe_.v1.products.create(params={"name": "Someone else's cheap product"})
    return stripe_.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 100,
                                            "recurring": {"interval": "month"}}).id


def _session_made_elsewhere(settings, price: str, **fields) -> str:
    """A checkout session mpanel did not create (a Payment Link's, or anyone's with the API key of
    another integration), carrying whatever references its maker chose."""
    return billing.client(settings).v1.checkout.sessions.create(params={
        "mode": "subscription", "line_items": [{"price": price, "quantity": 1}],
        "success_url": "https://elsewhere.example/thanks", "customer_email": "payer@example.net", **fields}).id


def _pay(settings, session_id: str) -> dict:
    answer = requests.post(f"{settings.STRIPE_API_BASE}/_sandbox/checkout/{session_id}/pay",
                           json={"card": "4242 4242 4242 4242"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["session"]


def _deliver(settings, event_type: str, object_id: str) -> str:
    """Record and process the stand-in's own event of this type about this object, as the webhook
    and the worker would; returns its id."""
    answer = requests.get(f"{settings.STRIPE_API_BASE}/v1/events", params={"type": event_type, "limit": 100},
                          headers={"Authorization": f"Bearer {settings.STRIPE_SECRET_KEY}"}, timeout=10)
    answer.raise_for_status()
    event = next(e for e in answer.json()["data"] if e["data"]["object"]["id"] == object_id)
    lifecycle.record_event(settings, event)
    lifecycle.process_event(settings, event["id"])
    return event["id"]


# --- what we see ---------------------------------------------------------------------------------

def _order(db_conn, sid: int) -> dict:
    return db_conn.execute("SELECT * FROM subscriptions WHERE id = %s", (sid,)).fetchone()


def _anomalies(db_conn, sid: int) -> list[dict]:
    return db_conn.execute("SELECT * FROM billing_anomalies WHERE subscription_id = %s ORDER BY id",
                           (sid,)).fetchall()


def _active_order(settings, db_conn) -> tuple[int, str]:
    """An order paid through its own checkout: (our id, its Stripe subscription id)."""
    placed = _our_checkout(settings)
    _pay(settings, placed["checkoutSessionId"])
    _deliver(settings, "checkout.session.completed", placed["checkoutSessionId"])
    row = _order(db_conn, placed["subscriptionId"])
    assert row["status"] == "active" and row["stripe_subscription_id"]
    return placed["subscriptionId"], row["stripe_subscription_id"]


# --- our own checkout ----------------------------------------------------------------------------

@pytest.mark.parametrize("promo", [None, "LAUNCH20"])
def test_our_own_checkout_paid_at_its_price_activates_the_order(settings, db_conn, jobs, promo):
    placed = _our_checkout(settings, **({"promoCode": promo} if promo else {}))
    paid = _pay(settings, placed["checkoutSessionId"])
    assert paid["amount_total"] == placed["amountCents"]

    event_id = _deliver(settings, "checkout.session.completed", placed["checkoutSessionId"])

    sid = placed["subscriptionId"]
    row = _order(db_conn, sid)
    assert row["status"] == "active" and row["stripe_subscription_id"] == paid["subscription"]
    assert row["provisioning_error"] is None
    assert len(jobs(task_name="converge_subscription", lock=f"sub-{sid}")) == 1
    assert _anomalies(db_conn, sid) == []
    assert db_conn.execute("SELECT processed_at FROM stripe_events WHERE id = %s",
                           (event_id,)).fetchone()["processed_at"] is not None


@pytest.mark.parametrize("tamper,difference", [
    ("amount_cents = amount_cents + 100", "amount 299, expected 399"),
    ("billing_cycle = 'yearly', amount_cents = 2990", "expected 1 x "),
])
def test_our_own_checkout_paid_at_another_price_activates_nothing_and_is_recorded(
        settings, db_conn, jobs, tamper, difference):
    placed = _our_checkout(settings)
    sid = placed["subscriptionId"]
    db_conn.execute(f"UPDATE subscriptions SET {tamper} WHERE id = %s", (sid,))
    _pay(settings, placed["checkoutSessionId"])

    _deliver(settings, "checkout.session.completed", placed["checkoutSessionId"])

    row = _order(db_conn, sid)
    assert row["status"] == "pending_payment" and row["stripe_subscription_id"] is None
    assert "a person will check it" in row["provisioning_error"]
    assert jobs(task_name="converge_subscription", lock=f"sub-{sid}") == []
    [anomaly] = _anomalies(db_conn, sid)
    assert anomaly["kind"] == "checkout_mismatch" and anomaly["stripe_object_id"] == placed["checkoutSessionId"]
    assert difference in anomaly["detail"] and anomaly["resolved_at"] is None


def test_a_mismatched_payment_stays_recorded_once_however_often_its_events_arrive(settings, db_conn, jobs):
    placed = _our_checkout(settings)
    sid = placed["subscriptionId"]
    db_conn.execute("UPDATE subscriptions SET amount_cents = 1 WHERE id = %s", (sid,))
    _pay(settings, placed["checkoutSessionId"])
    event_id = _deliver(settings, "checkout.session.completed", placed["checkoutSessionId"])
    db_conn.execute("UPDATE stripe_events SET processed_at = NULL WHERE id = %s", (event_id,))

    lifecycle.process_event(settings, event_id)

    assert len(_anomalies(db_conn, sid)) == 1 and _order(db_conn, sid)["status"] == "pending_payment"


# --- sessions and subscriptions we did not create ------------------------------------------------

@pytest.mark.parametrize("naming", ["client_reference_id", "metadata"])
def test_a_payment_link_style_session_naming_a_pending_order_activates_nothing(
        settings, db_conn, jobs, naming):
    placed = _our_checkout(settings)
    sid = placed["subscriptionId"]
    reference = ({"client_reference_id": str(sid)} if naming == "client_reference_id"
                 else {"metadata": {"subscription_id": str(sid)}, "subscription_data": {
                     "metadata": {"subscription_id": str(sid)}}})
    foreign = _session_made_elsewhere(settings, _cheap_price(settings), **reference)
    paid = _pay(settings, foreign)

    _deliver(settings, "checkout.session.completed", foreign)
    _deliver(settings, "customer.subscription.created", paid["subscription"])

    row = _order(db_conn, sid)
    assert row["status"] == "pending_payment" and row["provisioning_error"] is None
    assert row["stripe_checkout_session_id"] == placed["checkoutSessionId"]
    assert row["stripe_subscription_id"] is None and row["stripe_customer_id"] is None
    assert jobs(task_name="converge_subscription", lock=f"sub-{sid}") == []
    [anomaly] = _anomalies(db_conn, sid)
    assert anomaly["kind"] == "checkout_not_ours" and anomaly["stripe_object_id"] == foreign
    assert anomaly["event_type"] == "checkout.session.completed"


def test_a_foreign_subscription_naming_an_active_order_cannot_cancel_it(settings, db_conn, jobs):
    sid, ours = _active_order(settings, db_conn)
    before = _order(db_conn, sid)
    foreign_session = _session_made_elsewhere(settings, _cheap_price(settings),
                                              subscription_data={"metadata": {"subscription_id": str(sid)}})
    foreign = _pay(settings, foreign_session)["subscription"]
    billing.client(settings).v1.subscriptions.cancel(foreign)
    converges_before = len(jobs(task_name="converge_subscription", lock=f"sub-{sid}"))

    _deliver(settings, "customer.subscription.created", foreign)
    _deliver(settings, "invoice.paid", _invoice_of(settings, foreign))
    _deliver(settings, "customer.subscription.deleted", foreign)

    after = _order(db_conn, sid)
    assert after["status"] == "active" and after["stripe_subscription_id"] == ours
    assert after["terminate_after"] is None and after["updated_at"] == before["updated_at"]
    assert len(jobs(task_name="converge_subscription", lock=f"sub-{sid}")) == converges_before
    kinds = {(a["kind"], a["event_type"], a["stripe_object_id"]) for a in _anomalies(db_conn, sid)}
    assert kinds == {("subscription_not_ours", t, foreign) for t in
                     ("customer.subscription.created", "invoice.paid", "customer.subscription.deleted")}


def _invoice_of(settings, stripe_subscription_id: str) -> str:
    return billing.client(settings).v1.invoices.list(
        params={"subscription": stripe_subscription_id, "limit": 1}).data[0].id


def test_the_orders_own_subscription_still_moves_it_after_activation(settings, db_conn, jobs):
    sid, ours = _active_order(settings, db_conn)
    billing.client(settings).v1.subscriptions.update(ours, params={"cancel_at_period_end": True})

    _deliver(settings, "customer.subscription.updated", ours)

    assert _order(db_conn, sid)["cancel_at_period_end"] is True
    assert _anomalies(db_conn, sid) == []
