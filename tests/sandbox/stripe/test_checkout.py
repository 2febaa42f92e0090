"""Checkout through the stand-in's hosted payment page, as a customer pays."""

from __future__ import annotations

import time

import pytest
import requests

from tests.sandbox.stripe.stand_in import CANCEL_URL

COMPLETED_ORDER = ["customer.created", "customer.subscription.created", "payment_intent.succeeded",
                   "invoice.paid", "invoice.payment_succeeded", "customer.subscription.updated",
                   "checkout.session.completed"]


def test_a_new_session_points_at_the_hosted_page_which_prefills_the_email(stand_in):
    price = stand_in.plan(500)

    session = stand_in.checkout(price.id)
    page = requests.get(session.url, timeout=10)

    assert session.id.startswith("cs_test_") and session.object == "checkout.session"
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "subscription")
    assert (session.amount_total, session.currency, session.client_reference_id) == (500, "usd", "order-7")
    assert session.url == f"{stand_in.url}/c/pay/{session.id}"
    assert page.status_code == 200 and 'value="owner@shop.example"' in page.text
    assert "$5.00" in page.text and 'name="cardnumber"' in page.text and 'name="cvc"' in page.text


def test_paying_with_4242_activates_the_subscription_and_redirects_to_the_success_url(stand_in):
    price = stand_in.plan(500, "month")
    session = stand_in.checkout(price.id)

    response = stand_in.pay_on_page(session, card="4242 4242 4242 4242")
    done = stand_in.client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["subscription", "subscription.latest_invoice", "invoice.payments"]})
    sub = done.subscription
    invoice = sub.latest_invoice

    assert response.status_code == 303
    assert response.headers["Location"] == f"https://shop.example/welcome?session_id={session.id}"
    assert (done.status, done.payment_status, done.url) == ("complete", "paid", None)
    assert done.customer.startswith("cus_") and sub.customer == done.customer
    assert (sub.status, sub.metadata.to_dict(), sub.currency) == ("active", {"subscription_id": "7"}, "usd")
    item = sub["items"].data[0]
    assert (item.price.id, item.quantity) == (price.id, 1)
    assert sub["items"].data[0].current_period_end - sub["items"].data[0].current_period_start in range(28 * 86400, 31 * 86400 + 1)
    assert item.current_period_end == sub["items"].data[0].current_period_end
    assert (invoice.status, invoice.amount_paid, invoice.billing_reason) == ("paid", 500, "subscription_create")
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.parent.subscription_details.metadata.to_dict() == {"subscription_id": "7"}
    intent = stand_in.client.v1.payment_intents.retrieve(done.invoice.payments.data[0].payment.payment_intent)
    assert (intent.status, intent.amount_received, intent.customer) == ("succeeded", 500, done.customer)
    assert stand_in.client.v1.customers.retrieve(done.customer).email == "owner@shop.example"


def test_a_completed_checkout_emits_its_events_in_stripe_order(stand_in):
    price = stand_in.plan()
    session = stand_in.checkout(price.id)
    before = stand_in.last_event_id()

    stand_in.pay_on_page(session)

    events = stand_in.client.v1.events.list(params={"limit": 10}).data[::-1]
    assert stand_in.event_types(since=before) == COMPLETED_ORDER
    completed = events[-1]
    assert completed.api_version == "2026-08-26.dahlia" and completed.livemode is False
    assert completed.data.object.payment_status == "paid" and completed.data.object.id == session.id
    assert completed["request"]["id"] is None  # caused by the customer, not an API request
    assert stand_in.client.v1.events.retrieve(completed.id).type == "checkout.session.completed"


@pytest.mark.parametrize("card, code, decline_code", [
    ("4000 0000 0000 0002", "card_declined", "generic_decline"),
    ("4000 0000 0000 9995", "card_declined", "insufficient_funds"),
    ("4000 0000 0000 0069", "expired_card", "expired_card"),
    ("4000 0000 0000 0127", "incorrect_cvc", "incorrect_cvc"),
    ("4000 0000 0000 0119", "processing_error", "processing_error"),
    ("4000000000000002", "card_declined", "generic_decline"),
])
def test_a_declined_card_shows_the_error_and_leaves_the_session_open(stand_in, card, code, decline_code):
    price = stand_in.plan()
    session = stand_in.checkout(price.id)
    before = stand_in.last_event_id()

    page = stand_in.pay_on_page(session, card=card)

    failed = stand_in.client.v1.events.list(params={"type": "payment_intent.payment_failed"}).data[0]
    intent = failed.data.object
    assert page.status_code == 402 and "class=\"error\"" in page.text
    assert stand_in.client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert stand_in.event_types(since=before) == ["payment_intent.payment_failed"]
    assert intent.status == "requires_payment_method"
    error = intent.last_payment_error
    assert (error.type, error.code, error.decline_code) == ("card_error", code, decline_code)
    assert error.payment_method.card.last4 == card.replace(" ", "")[-4:]
    assert stand_in.client.v1.subscriptions.list().data == []


def test_a_decline_then_a_good_card_completes_with_the_same_payment_intent(stand_in):
    price = stand_in.plan()
    session = stand_in.checkout(price.id)

    stand_in.pay_on_page(session, card="4000000000009995")
    stand_in.pay_on_page(session, card="4242424242424242")

    intents = stand_in.client.v1.payment_intents.list().data
    assert [i.status for i in intents] == ["succeeded"]
    assert stand_in.client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


@pytest.mark.parametrize("fields, message", [
    ({"card": "4242 4242 4242 4241"}, "card number is invalid"),
    ({"exp": "01 / 20"}, "in the past"),
    ({"exp": ""}, "incomplete"),
    ({"cvc": "1"}, "security code is incomplete"),
])
def test_the_page_refuses_bad_input_before_any_charge(stand_in, fields, message):
    price = stand_in.plan()
    session = stand_in.checkout(price.id)
    before = stand_in.last_event_id()

    page = stand_in.pay_on_page(session, **fields)

    assert page.status_code == 400 and message in page.text
    assert stand_in.event_types(since=before) == []
    assert stand_in.client.v1.payment_intents.list().data == []


def test_an_unknown_but_valid_card_number_declines_as_a_live_card_in_test_mode(stand_in):
    session = stand_in.checkout(stand_in.plan().id)

    answer = stand_in.control("POST", f"/checkout/{session.id}/pay", {"card": "4111 1111 1111 1111"}, expect=402)

    assert answer["outcome"] == "declined" and answer["error"]["decline_code"] == "test_mode_live_card"


def test_the_test_route_pays_with_a_card_and_answers_json(stand_in):
    session = stand_in.checkout(stand_in.plan().id)

    answer = stand_in.control("POST", f"/checkout/{session.id}/pay", {"card": "4242 4242 4242 4242"})

    assert answer["outcome"] == "paid" and answer["session"]["status"] == "complete"
    assert answer["redirect_url"].endswith(session.id)
    assert stand_in.control("POST", f"/checkout/{session.id}/pay", {"card": "4242424242424242"},
                            expect=409)["error"] == "session_not_open"


def test_a_full_discount_completes_without_a_card_as_no_payment_required(stand_in):
    coupon = stand_in.client.v1.coupons.create(params={"percent_off": 100, "duration": "forever"})
    session = stand_in.checkout(stand_in.plan(900).id, discounts=[{"coupon": coupon.id}])
    before = stand_in.last_event_id()

    page = requests.get(session.url, timeout=10)
    response = requests.post(session.url, data={"action": "pay"}, allow_redirects=False, timeout=10)

    done = stand_in.client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["invoice"]})
    assert (session.amount_subtotal, session.amount_total) == (900, 0)
    assert 'name="cardnumber"' not in page.text and response.status_code == 303
    assert (done.status, done.payment_status) == ("complete", "no_payment_required")
    assert (done.invoice.status, done.invoice.amount_due, done.invoice.total_discount_amounts[0].amount) == \
        ("paid", 0, 900)
    assert stand_in.event_types(since=before) == [t for t in COMPLETED_ORDER if t != "payment_intent.succeeded"]
    assert stand_in.client.v1.coupons.retrieve(coupon.id).times_redeemed == 1


def test_a_promotion_code_applied_on_the_page_discounts_the_first_invoice(stand_in):
    coupon = stand_in.client.v1.coupons.create(params={"percent_off": 20, "duration": "once", "name": "Launch"})
    stand_in.client.v1.promotion_codes.create(params={"code": "LAUNCH20",
                                                      "promotion": {"type": "coupon", "coupon": coupon.id}})
    session = stand_in.checkout(stand_in.plan(1000).id, allow_promotion_codes=True)

    applied = requests.post(session.url, data={"action": "apply_promotion_code", "promotion_code": "launch20"},
                            timeout=10)
    wrong = requests.post(session.url, data={"action": "apply_promotion_code", "promotion_code": "NOPE"},
                          timeout=10)
    paid = stand_in.pay_on_page(session)

    done = stand_in.client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    assert "$8.00" in applied.text and "Launch" in applied.text
    assert wrong.status_code == 400 and "This code is invalid." in wrong.text
    assert paid.status_code == 303 and done.amount_total == 800
    invoice = stand_in.client.v1.invoices.retrieve(done.invoice)
    assert (invoice.subtotal, invoice.total, invoice.amount_paid) == (1000, 800, 800)
    assert done.subscription.discounts == []  # a "once" coupon is spent on the first invoice


def test_an_existing_customer_is_charged_and_no_customer_created_event_is_sent(stand_in):
    customer = stand_in.client.v1.customers.create(params={"email": "ada@shop.example", "name": "Ada"})
    session = stand_in.checkout(stand_in.plan().id, customer=customer.id, customer_email=None)
    before = stand_in.last_event_id()

    page = requests.get(session.url, timeout=10)
    stand_in.pay_on_page(session)

    done = stand_in.client.v1.checkout.sessions.retrieve(session.id)
    assert 'value="ada@shop.example"' in page.text
    assert done.customer == customer.id
    assert stand_in.event_types(since=before) == COMPLETED_ORDER[1:]


def test_an_expired_session_cannot_be_paid(stand_in):
    session = stand_in.checkout(stand_in.plan().id)

    expired = stand_in.client.v1.checkout.sessions.expire(session.id)
    page = requests.get(session.url, timeout=10)
    attempt = stand_in.pay_on_page(session)

    assert (expired.status, expired.url) == ("expired", None)
    assert "expired" in page.text and CANCEL_URL in page.text
    assert attempt.status_code == 409
    assert stand_in.event_types()[-1] == "checkout.session.expired"


def test_a_session_past_its_expiry_time_expires_when_next_looked_at(stand_in_factory, tmp_path):
    clock = [time.time()]
    stand_in = stand_in_factory(now=lambda: clock[0])
    session = stand_in.checkout(stand_in.plan().id)

    clock[0] += 24 * 3600 + 1

    assert stand_in.client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert stand_in.event_types()[-1] == "checkout.session.expired"


def test_line_items_come_only_when_asked_for(stand_in):
    price = stand_in.plan(500)
    session = stand_in.checkout(price.id, line_items=[{"price": price.id, "quantity": 3}])

    plain = stand_in.client.v1.checkout.sessions.retrieve(session.id)
    expanded = stand_in.client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items"]})
    listed = stand_in.client.v1.checkout.sessions.line_items.list(session.id)

    assert "line_items" not in plain
    assert [(i.price.id, i.quantity, i.amount_total) for i in expanded.line_items.data] == [(price.id, 3, 1500)]
    assert [i.quantity for i in listed.data] == [3]


def test_card_numbers_are_never_stored(stand_in, tmp_path):
    session = stand_in.checkout(stand_in.plan().id)
    stand_in.pay_on_page(session, card="4000 0000 0000 9995")
    stand_in.pay_on_page(session, card="4242 4242 4242 4242")

    # The database and its write-ahead log, as bytes on disk.
    stored = b"".join(path.read_bytes() for path in (tmp_path / "stripe").iterdir())

    assert b"4242424242424242" not in stored and b"4000000000009995" not in stored
    assert b'"last4":"4242"' in stored
