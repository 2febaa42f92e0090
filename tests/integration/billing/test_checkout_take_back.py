"""Taking back a canceled, retained order through the public checkout (issue 9 item 4), at the
service level against the Stripe stand-in and PostgreSQL: the order's new session is price-checked
like a first payment, each attempt has its own idempotency key and closes the attempt before it,
and the order keeps the terms it was sold at. (The whole journey over HTTP, with the account,
files and mail coming back, is tests/e2e/test_termination_with_retention.py.)"""
from __future__ import annotations

import dataclasses
import secrets

import pytest

from app.devtools.demo import seed_checkout
from app.services.orders import billing
from app.services.orders.checkout import start_checkout
from app.services.orders.orders import OrderConflict
from tests.integration.billing.test_stripe_matching import _anomalies, _deliver, _order, _pay


# Orders made here are ended afterwards (tests/integration/billing/conftest.py).
pytestmark = pytest.mark.usefixtures("nothing_left_to_build")


@pytest.fixture
def retained(settings):
    return dataclasses.replace(settings, TERMINATE_AFTER_DAYS=30.0)


def _canceled_order(retained, db_conn) -> tuple[dict, int]:
    """An order paid through our checkout, then canceled in Stripe: (its checkout payload, its id)."""
    payload = seed_checkout(secrets.token_hex(4))
    placed = start_checkout(retained, payload)
    _pay(retained, placed["checkoutSessionId"])
    _deliver(retained, "checkout.session.completed", placed["checkoutSessionId"])
    sid = placed["subscriptionId"]
    stripe_sub = _order(db_conn, sid)["stripe_subscription_id"]
    billing.client(retained).v1.subscriptions.cancel(stripe_sub)
    _deliver(retained, "customer.subscription.deleted", stripe_sub)
    assert _order(db_conn, sid)["status"] == "canceled"
    return payload, sid


def test_a_take_back_paid_at_its_price_brings_the_same_order_back(retained, db_conn):
    payload, sid = _canceled_order(retained, db_conn)
    first_stripe_sub = _order(db_conn, sid)["stripe_subscription_id"]

    again = start_checkout(retained, payload)

    assert again["subscriptionId"] == sid and again["takeBack"] is True
    assert _order(db_conn, sid)["stripe_checkout_session_id"] == again["checkoutSessionId"]
    _pay(retained, again["checkoutSessionId"])
    _deliver(retained, "checkout.session.completed", again["checkoutSessionId"])
    row = _order(db_conn, sid)
    assert row["status"] == "active" and row["terminate_after"] is None
    assert row["stripe_subscription_id"] not in (None, first_stripe_sub)
    assert _anomalies(db_conn, sid) == []


def test_a_take_back_paid_at_another_price_brings_nothing_back_and_is_recorded(retained, db_conn):
    payload, sid = _canceled_order(retained, db_conn)
    again = start_checkout(retained, payload)
    db_conn.execute("UPDATE subscriptions SET amount_cents = amount_cents + 100 WHERE id = %s", (sid,))
    _pay(retained, again["checkoutSessionId"])

    _deliver(retained, "checkout.session.completed", again["checkoutSessionId"])

    row = _order(db_conn, sid)
    assert row["status"] == "canceled" and row["terminate_after"] is not None
    [anomaly] = _anomalies(db_conn, sid)
    assert anomaly["kind"] == "checkout_mismatch" and anomaly["stripe_object_id"] == again["checkoutSessionId"]


def test_each_attempt_has_its_own_session_and_closes_the_one_before(retained, db_conn):
    payload, sid = _canceled_order(retained, db_conn)
    first = start_checkout(retained, payload)
    second = start_checkout(retained, payload)

    assert second["checkoutSessionId"] != first["checkoutSessionId"]
    assert billing.retrieve_session(retained, first["checkoutSessionId"]).status == "expired"
    assert billing.retrieve_session(retained, second["checkoutSessionId"]).metadata["take_back"] == "2"
    assert _order(db_conn, sid)["stripe_checkout_session_id"] == second["checkoutSessionId"]


@pytest.mark.parametrize("change,field", [({"planSlug": "shared_business"}, "planSlug"),
                                          ({"billingCycle": "yearly"}, "billingCycle"),
                                          ({"promoCode": "LAUNCH20"}, "promoCode")])
def test_an_order_is_taken_back_only_on_the_terms_it_was_sold_at(retained, db_conn, change, field):
    payload, sid = _canceled_order(retained, db_conn)
    before = _order(db_conn, sid)
    with pytest.raises(OrderConflict) as refused:
        start_checkout(retained, {**payload, **change})
    assert refused.value.field == field
    assert _order(db_conn, sid)["stripe_checkout_session_id"] == before["stripe_checkout_session_id"]
