"""The seed's customer journey over HTTP: checkout intent, Stripe payment, webhook, provisioning, email."""
from __future__ import annotations

import psycopg
import pytest

from tests.e2e.conftest import seed_payload, wait_for


def _count(settings, sql: str, *params) -> int:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute(sql, params).fetchone()[0]


@pytest.mark.parametrize("mode", ["external", "new_registration", "transfer"])
def test_a_paid_checkout_becomes_a_working_account_and_a_welcome_email(mpanel, settings, mode):
    payload = seed_payload(domainMode=mode, **({"authCode": "EPP-ABC-123"} if mode == "transfer" else {}))
    created = mpanel.checkout(payload)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "pending_payment" and body["checkoutUrl"].startswith(settings.STRIPE_API_BASE)

    paid = mpanel.pay(body["checkoutSessionId"])
    assert paid.status_code == 200, paid.text
    status = mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready")
    assert status["status"] == "active" and status["websiteStatus"] == "active"
    assert {"zone", "certificate", "account", "mailbox-admin"} <= {s["resource"] for s in status["steps"]}

    email = payload["customer"]["email"]
    [welcome] = wait_for(lambda: mpanel.mails_to(email), 60, "the welcome email")
    text = welcome.get_body(("plain",)).get_content()
    assert payload["domain"] in text and settings.APP_URL in text
    assert (settings.NS1 in text) == (mode != "new_registration")
    # A domain we did not register: the TXT record to publish for proof of control, and why.
    assert (f"_mpanel-verify.{payload['domain']}" in text) == (mode != "new_registration")
    assert welcome.get_body(("html",)) is not None


def test_a_declined_card_provisions_nothing(mpanel, settings):
    body = mpanel.checkout(seed_payload()).json()
    # The decline is recorded before the order knows its Stripe customer (no subscription id on
    # the row): this payment is the one recorded after this payment attempt, not an older one.
    before = _count(settings, "SELECT coalesce(max(id), 0) FROM payments")
    declined = mpanel.pay(body["checkoutSessionId"], card="4000 0000 0000 9995")
    assert "insufficient_funds" in declined.text
    wait_for(lambda: _count(settings, "SELECT count(*) FROM payments WHERE status = 'failed' AND failure_code = "
                                      "'insufficient_funds' AND id > %s", before),
             30, "this attempt's failed payment to be recorded")
    status = mpanel.status(body["subscriptionId"])
    assert status["status"] == "pending_payment" and status["provisioningStatus"] == "pending"
    assert _count(settings, "SELECT count(*) FROM websites WHERE subscription_id = %s", body["subscriptionId"]) == 0


def test_the_test_mode_override_code_provisions_without_stripe(mpanel, settings):
    payload = seed_payload(testMode=True, promoCode="TESTFREE")
    created = mpanel.checkout(payload)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["checkoutUrl"] is None and body["amountCents"] == 0
    mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready")


def test_a_promo_code_discounts_through_stripe_and_utm_tags_are_kept(mpanel, settings):
    from app.services.orders import billing

    payload = seed_payload(promoCode="launch20", utmSource="newsletter", utmCampaign="black-friday")
    created = mpanel.checkout(payload)
    assert created.status_code == 201, created.text
    body = created.json()
    with psycopg.connect(settings.DATABASE_URL) as conn:
        plan_price, utm = conn.execute(
            "SELECT p.price_monthly_cents, s.utm_source || '/' || s.utm_campaign FROM subscriptions s "
            "JOIN plans p ON p.id = s.plan_id WHERE s.id = %s", (body["subscriptionId"],)).fetchone()
    assert body["amountCents"] == round(plan_price * 0.8) and utm == "newsletter/black-friday"
    session = billing.client(settings).v1.checkout.sessions.retrieve(body["checkoutSessionId"])
    assert session["amount_total"] == body["amountCents"]
