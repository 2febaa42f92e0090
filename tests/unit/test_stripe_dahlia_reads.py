"""What mpanel reads of Stripe objects is what API 2026-08-26.dahlia sends (issue 22, item 4)."""

from __future__ import annotations

import time

import pytest
import stripe

from app.services.orders import billing, customer_billing, lifecycle
from app.services.orders import lifecycle_rules as rules
from app.services.orders.orders import percent_off_amount, price_after_promo
from app.settings import Settings
from sandbox.stripe.billing import discounts as stand_in_discounts


def _stripe(data: dict):
    return stripe.StripeObject.construct_from(data, "sk_test_123")


# --- (5) one rounding rule for percent-off coupons -----------------------------------------

ROUNDING = [  # (amount, percent, discount) -- the discount is rounded, half up
    (1999, 50, 1000), (999, 50, 500), (1, 50, 1), (3, 50, 2), (1000, 12.5, 125), (1999, 33.33, 666),
    (5, 10, 1), (4, 10, 0), (0, 100, 0),
]


@pytest.mark.parametrize("amount, percent, discount", ROUNDING)
def test_the_panel_and_the_stand_in_round_a_percent_off_discount_alike(amount, percent, discount):
    assert percent_off_amount(amount, percent) == discount
    assert stand_in_discounts.percent_off_amount(amount, percent) == discount
    assert stand_in_discounts.allocate_discount({"percent_off": percent}, [amount]) == [discount]


def test_half_off_1999_is_priced_at_what_stripe_charges():
    assert price_after_promo(1999, {"percent_off": 50, "amount_off_cents": None}) == 999


# --- (6) a cancellation scheduled at a date ------------------------------------------------

ITEM = {"id": "si_1", "price": {"id": "price_1"}, "current_period_start": 1_700_000_000,
        "current_period_end": 1_702_592_000}


def test_a_cancellation_at_a_date_is_noticed_like_one_at_the_period_end():
    sub = {"id": "sub_1", "customer": "cus_1", "status": "active", "cancel_at_period_end": False,
           "cancel_at": 1_701_000_000, "items": {"data": [ITEM]}}
    assert rules.read_stripe_subscription(sub).cancel_at_period_end is True
    assert rules.read_stripe_subscription(_stripe(sub)).cancel_at_period_end is True
    assert rules.read_stripe_subscription(dict(sub, cancel_at=None)).cancel_at_period_end is False


def test_the_period_is_read_from_the_items_only():
    sub = {"id": "sub_1", "status": "active", "cancel_at_period_end": False, "cancel_at": None,
           "current_period_end": 1, "items": {"data": [ITEM]}}
    assert rules.read_stripe_subscription(sub).current_period_end.timestamp() == ITEM["current_period_end"]


# --- (1) the plan-change preview's proration date, on the invoice's parent -------------------

SITE = {"stripe_subscription_id": "sub_1", "stripe_customer_id": "cus_1", "status": "active",
        "cancel_at_period_end": False, "plan_id": 1, "billing_cycle": "monthly", "mailboxes_used": 0}
PLANS = [{"id": 1, "slug": "starter", "name": "Starter", "mailbox_count": 5, "stripe_price_monthly": "price_1"},
         {"id": 2, "slug": "business", "name": "Business", "mailbox_count": 20, "stripe_price_monthly": "price_2"}]


class _FakeStripe:
    def __init__(self, preview: dict):
        self.v1 = self
        self.subscriptions = self
        self.invoices = self
        self._preview = preview

    def retrieve(self, sub_id, params=None):
        return _stripe({"id": sub_id, "object": "subscription", "items": {"object": "list", "data": [ITEM]}})

    def create_preview(self, params):
        return _stripe(self._preview)


def _preview(parent_details: dict) -> dict:
    return {"object": "invoice", "amount_due": 500, "total": 500, "currency": "usd",
            "lines": {"object": "list", "data": []},
            "parent": {"type": "subscription_details", "subscription_details": parent_details}}


def test_the_preview_reads_the_proration_date_where_dahlia_sends_it(monkeypatch):
    when = int(time.time())
    monkeypatch.setattr(customer_billing, "_site", lambda *a: (dict(SITE), PLANS))
    monkeypatch.setattr(billing, "client", lambda s: _FakeStripe(_preview(
        {"subscription": "sub_1", "subscription_proration_date": when})))
    preview = customer_billing.preview_plan_change(Settings(), 1, 7, "business")
    assert preview.proration_date == when


def test_a_preview_without_a_proration_date_is_refused_not_a_500(monkeypatch):
    monkeypatch.setattr(customer_billing, "_site", lambda *a: (dict(SITE), PLANS))
    monkeypatch.setattr(billing, "client", lambda s: _FakeStripe(_preview({"subscription": "sub_1"})))
    with pytest.raises(customer_billing.BillingRefused) as refused:
        customer_billing.preview_plan_change(Settings(), 1, 7, "business")
    assert refused.value.status == 502


# --- (2) the invoice a payment paid, through its InvoicePayment ------------------------------

def test_a_payment_event_reads_its_invoice_from_the_invoice_payment(monkeypatch):
    asked = []
    monkeypatch.setattr(billing, "invoice_of_payment", lambda s, intent: asked.append(intent) or "in_1")
    reader, _ = lifecycle.HANDLERS["payment_intent.succeeded"]
    truth = lifecycle.StripeTruth()
    reader(Settings(), {"id": "pi_1", "object": "payment_intent"}, truth)
    assert asked == ["pi_1"] and truth.payment_invoice("pi_1") == "in_1"
    assert lifecycle.HANDLERS["payment_intent.payment_failed"][0] is reader
