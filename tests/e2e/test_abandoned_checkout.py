"""Checkouts left unpaid: the customer comes back, or Stripe closes the session."""
from __future__ import annotations

import psycopg
import requests

from tests.e2e.conftest import seed_payload, wait_for


def _rows(settings, sql: str, *params) -> list[tuple]:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute(sql, params).fetchall()


def _order(settings, subscription_id: int) -> tuple[str, str]:
    [(status, domain_status)] = _rows(
        settings, "SELECT s.status, d.status FROM subscriptions s JOIN domains d ON d.subscription_id = s.id "
                  "WHERE s.id = %s", subscription_id)
    return status, domain_status


def _session(mpanel, session_id: str) -> dict:
    r = requests.get(f"{mpanel.stripe}/v1/checkout/sessions/{session_id}", timeout=10,
                     headers={"Authorization": f"Bearer {mpanel.s.STRIPE_SECRET_KEY}"})
    r.raise_for_status()
    return r.json()


def test_a_customer_who_comes_back_starts_over_on_the_same_account(mpanel, settings):
    payload = seed_payload()
    first = mpanel.checkout(payload).json()
    again = mpanel.checkout({**payload, "planSlug": "shared_starter",
                             "customer": {**payload["customer"], "lastName": "Renamed"}})
    assert again.status_code == 201, again.text
    second = again.json()
    assert second["subscriptionId"] != first["subscriptionId"]

    assert _session(mpanel, first["checkoutSessionId"])["status"] == "expired"
    assert _order(settings, first["subscriptionId"]) == ("abandoned", "released")
    assert _order(settings, second["subscriptionId"]) == ("pending_payment", "pending")
    [(users, last_name)] = _rows(settings, "SELECT count(DISTINCT u.id), max(c.last_name) FROM users u "
                                           "JOIN customers c ON c.user_id = u.id WHERE u.email = %s",
                                 payload["customer"]["email"])
    assert (users, last_name) == (1, "Renamed")

    # The old page can no longer take money; the new one does, and only it is built.
    assert mpanel.pay(first["checkoutSessionId"]).status_code == 409
    assert mpanel.pay(second["checkoutSessionId"]).status_code == 200
    status = mpanel.wait_until(second["subscriptionId"], provisioningStatus="ready")
    assert status["status"] == "active"
    assert mpanel.status(first["subscriptionId"])["provisioningStatus"] == "pending"


def test_the_same_email_with_another_password_is_refused_and_changes_nothing(mpanel, settings):
    payload = seed_payload()
    first = mpanel.checkout(payload).json()
    refused = mpanel.checkout({**payload, "account": {"password": "Someone-Else-42"}})
    assert refused.status_code == 409 and refused.json()["field"] == "customer.email"
    assert _session(mpanel, first["checkoutSessionId"])["status"] == "open"
    assert _order(settings, first["subscriptionId"]) == ("pending_payment", "pending")


def test_a_customer_who_has_paid_adds_a_site_with_their_password_and_only_with_it(mpanel, settings):
    """Issue 26 item 8: a returning customer buys another site on the same account
    (tests/e2e/test_another_site.py follows it through payment and the welcome)."""
    payload = seed_payload(testMode=True, promoCode="TESTFREE")
    first = mpanel.checkout(payload).json()
    wrong = mpanel.checkout(seed_payload(customer=payload["customer"], account={"password": "Someone-Else-42"}))
    assert wrong.status_code == 409 and wrong.json()["field"] == "customer.email"
    again = mpanel.checkout(seed_payload(customer=payload["customer"], account=payload["account"]))
    assert again.status_code == 201, again.text
    [(customers,)] = _rows(settings, "SELECT count(DISTINCT customer_id) FROM subscriptions WHERE id IN (%s, %s)",
                           first["subscriptionId"], again.json()["subscriptionId"])
    assert customers == 1
    assert _order(settings, first["subscriptionId"])[0] == "active"  # the paid site stays as it is


def test_coming_back_after_paying_keeps_the_paid_order(mpanel, settings, paused_delivery):
    """The race Stripe settles: the earlier session was paid, its webhook not yet here."""
    payload = seed_payload()
    first = mpanel.checkout(payload).json()
    assert mpanel.pay(first["checkoutSessionId"]).status_code == 200
    again = mpanel.checkout(payload)
    assert again.status_code == 409 and "just been paid" in again.json()["message"]
    assert _order(settings, first["subscriptionId"]) == ("pending_payment", "pending")
    mpanel.stripe_control("webhooks", {"paused": False})
    mpanel.wait_until(first["subscriptionId"], status="active")


def test_a_checkout_stripe_expires_is_abandoned_and_its_domain_freed(mpanel, settings):
    payload = seed_payload()
    first = mpanel.checkout(payload).json()
    taken = mpanel.checkout({**payload, "customer": {**payload["customer"], "email": "x" + payload["customer"]["email"]}})
    assert taken.status_code == 409 and "waiting for payment" in taken.json()["message"]

    expired = requests.post(f"{mpanel.stripe}/v1/checkout/sessions/{first['checkoutSessionId']}/expire", timeout=10,
                            headers={"Authorization": f"Bearer {settings.STRIPE_SECRET_KEY}"})
    assert expired.status_code == 200, expired.text
    wait_for(lambda: _order(settings, first["subscriptionId"]) == ("abandoned", "released"), 30,
             "the checkout.session.expired webhook to abandon the order")
    someone_else = mpanel.checkout({**payload, "customer": {**payload["customer"],
                                                              "email": "y" + payload["customer"]["email"]}})
    assert someone_else.status_code == 201, someone_else.text


def test_the_hourly_sweep_abandons_an_expired_checkout_whose_event_never_came(mpanel, settings, paused_delivery,
                                                                             queue):
    from app.jobs.tasks import abandon_expired_checkouts

    first = mpanel.checkout(seed_payload()).json()
    expired = requests.post(f"{mpanel.stripe}/v1/checkout/sessions/{first['checkoutSessionId']}/expire", timeout=10,
                            headers={"Authorization": f"Bearer {settings.STRIPE_SECRET_KEY}"})
    assert expired.status_code == 200  # ...and its webhook held back
    with psycopg.connect(settings.DATABASE_URL) as conn:
        conn.execute("UPDATE subscriptions SET created_at = now() - interval '26 hours' WHERE id = %s",
                     (first["subscriptionId"],))
    assert abandon_expired_checkouts(0) >= 1  # the periodic task, run here rather than at minute 23
    assert _order(settings, first["subscriptionId"]) == ("abandoned", "released")
