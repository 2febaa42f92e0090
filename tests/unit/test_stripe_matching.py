"""Stripe matching by our records (issue 9 item 5): the pure rules in app/services/orders/lifecycle_rules.py."""
from __future__ import annotations

import pytest

from app.services.orders import lifecycle_rules as rules

PLAN = {"id": 1, "currency": "usd", "stripe_price_monthly": "price_month", "stripe_price_yearly": "price_year"}


def _order(**changes) -> dict:
    return {"id": 7, "status": "pending_payment", "billing_cycle": "monthly", "amount_cents": 299,
            "stripe_checkout_session_id": "cs_ours", "stripe_subscription_id": None, **changes}


def _session(amount=299, currency="usd", lines=(("price_month", 1),)) -> dict:
    return {"id": "cs_ours", "amount_total": amount, "currency": currency,
            "line_items": {"data": [{"price": {"id": p}, "quantity": q} for p, q in lines]}}


# --- what the payer controls names an order, never finds one -----------------------------------

@pytest.mark.parametrize("reference,named", [("7", (7,)), (7, (7,)), (" 7 ", (7,)), ("007", (7,))])
def test_a_plain_order_number_names_that_order(reference, named):
    assert rules.claimed_order_ids(reference) == named


@pytest.mark.parametrize("reference", [None, "", "0", "-3", "7.0", "seven", "7;DROP", "١٢", str(2 ** 63), {}])
def test_anything_but_a_plain_positive_order_number_names_nothing(reference):
    assert rules.claimed_order_ids(reference) == ()


def test_the_same_order_named_twice_is_one_claim():
    assert rules.claimed_order_ids("7", "7", "8") == (7, 8)


def test_a_session_that_is_the_orders_own_checkout_is_no_anomaly():
    assert rules.foreign_checkout("cs_ours", _order()) is None


@pytest.mark.parametrize("stored", ["cs_ours", None])
def test_a_payment_link_session_naming_an_order_is_a_checkout_not_ours(stored):
    anomaly = rules.foreign_checkout("cs_payment_link", _order(stripe_checkout_session_id=stored))
    assert anomaly.kind == rules.CHECKOUT_NOT_OURS
    assert anomaly.subscription_id == 7 and anomaly.stripe_object_id == "cs_payment_link"
    assert "cs_payment_link" in anomaly.detail and "not activated" in anomaly.detail


@pytest.mark.parametrize("status", ["active", "past_due", "suspended", "canceled"])
def test_a_subscription_naming_an_order_that_holds_another_is_not_ours(status):
    anomaly = rules.foreign_subscription("sub_foreign", _order(status=status, stripe_subscription_id="sub_ours"))
    assert anomaly.kind == rules.SUBSCRIPTION_NOT_OURS and anomaly.subscription_id == 7
    assert "sub_foreign" in anomaly.detail and "sub_ours" in anomaly.detail


@pytest.mark.parametrize("status", ["active", "abandoned", "terminated"])
def test_a_subscription_naming_an_order_without_one_that_no_longer_waits_for_payment_is_not_ours(status):
    assert rules.foreign_subscription("sub_foreign", _order(status=status)).kind == rules.SUBSCRIPTION_NOT_OURS


def test_a_subscription_naming_an_order_still_waiting_for_payment_may_be_its_own_arriving_early():
    assert rules.foreign_subscription("sub_early", _order()) is None


def test_the_orders_own_subscription_is_no_anomaly():
    assert rules.foreign_subscription("sub_ours", _order(status="active", stripe_subscription_id="sub_ours")) is None


# --- a paid checkout is exactly what the order was priced at -----------------------------------

def test_a_checkout_charge_is_read_from_the_session_with_its_line_items():
    charge = rules.paid_checkout_charge(_session(amount=2392, currency="USD", lines=(("price_year", 1),)))
    assert charge == rules.Charge(2392, "usd", (("price_year", 1),))


def test_the_order_charge_is_its_amount_the_plans_currency_and_its_cycles_price():
    assert rules.order_charge(_order(billing_cycle="yearly", amount_cents=2392), PLAN) == \
        rules.Charge(2392, "usd", (("price_year", 1),))


def test_a_payment_of_exactly_the_orders_price_matches():
    assert rules.charge_differences(rules.paid_checkout_charge(_session()),
                                    rules.order_charge(_order(), PLAN)) == []


def test_a_promotion_code_priced_order_matches_the_discounted_total():
    order = _order(amount_cents=239)  # LAUNCH20 on 299
    assert rules.charge_differences(rules.paid_checkout_charge(_session(amount=239)),
                                    rules.order_charge(order, PLAN)) == []


@pytest.mark.parametrize("session,what", [
    (_session(amount=100), "amount 100, expected 299"),
    (_session(amount=239), "amount 239, expected 299"),          # a coupon the order did not have
    (_session(currency="eur"), "currency eur, expected usd"),
    (_session(lines=(("price_cheap", 1),)), "items 1 x price_cheap, expected 1 x price_month"),
    (_session(lines=(("price_year", 1),)), "items 1 x price_year"),  # the other cycle's price
    (_session(lines=(("price_month", 2),)), "items 2 x price_month"),
    (_session(lines=(("price_month", 1), ("price_extra", 1))), "items 1 x price_month, 1 x price_extra"),
    (_session(lines=()), "items none"),
])
def test_a_payment_of_anything_else_differs_and_says_how(session, what):
    differences = rules.charge_differences(rules.paid_checkout_charge(session), rules.order_charge(_order(), PLAN))
    assert any(what in d for d in differences), differences


@pytest.mark.parametrize("order,plan", [(_order(amount_cents=None), PLAN),
                                        (_order(), {**PLAN, "stripe_price_monthly": None}),
                                        (_order(), {})])
def test_an_order_whose_price_is_unknown_never_matches(order, plan):
    session = _session(amount=order["amount_cents"])
    assert rules.charge_differences(rules.paid_checkout_charge(session), rules.order_charge(order, plan))


def test_a_mismatch_is_told_to_a_person_and_shown_on_the_order():
    anomaly = rules.checkout_mismatch("cs_ours", 7, ["amount 100, expected 299"])
    assert anomaly.kind == rules.CHECKOUT_MISMATCH and anomaly.subscription_id == 7
    assert "amount 100, expected 299" in anomaly.detail
    assert "a person" in rules.checkout_mismatch_error(["amount 100, expected 299"])
