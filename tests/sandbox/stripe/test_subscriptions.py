"""Subscriptions after checkout: plan changes, cancellation, refunds and the test clock."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import stripe

from tests.sandbox.stripe.stand_in import KEY, WEBHOOK_SECRET, wait_for

CHECKOUT = Path(__file__).resolve().parents[3]


# -- the test clock ---------------------------------------------------------------------


def test_renewal_paid_moves_the_period_and_emits_paid_invoice_events(stand_in):
    _, sub = stand_in.subscribe(500, "month")
    before = stand_in.last_event_id()

    result = stand_in.advance(sub.id, "renewal_paid")

    renewed = stand_in.client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    # Stripe's documented order: the new period, its invoice issued, then the payment.
    assert result["events"] == ["customer.subscription.updated", "invoice.created", "invoice.finalized",
                                "payment_intent.succeeded", "invoice.paid", "invoice.payment_succeeded"]
    assert stand_in.event_types(since=before) == result["events"]
    created = stand_in.client.v1.events.list(params={"type": "invoice.created"}).data[0].data.object
    assert (created.id, created.status, created.number) == (renewed.latest_invoice.id, "draft", None)
    assert renewed.status == "active" and renewed["items"].data[0].current_period_start == sub["items"].data[0].current_period_end
    assert renewed["items"].data[0].current_period_end > renewed["items"].data[0].current_period_start
    invoice = renewed.latest_invoice
    assert (invoice.status, invoice.amount_paid, invoice.billing_reason) == ("paid", 500, "subscription_cycle")
    assert invoice.lines.data[0].period.start == sub["items"].data[0].current_period_end
    assert invoice.parent.subscription_details.subscription == sub.id
    updated = stand_in.client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert updated.data.previous_attributes["items"].data[0].current_period_start == \
        sub["items"].data[0].current_period_start
    assert updated.data.previous_attributes.latest_invoice == sub.latest_invoice
    listed = stand_in.client.v1.invoices.list(params={"subscription": sub.id}).data
    assert [i.billing_reason for i in listed] == ["subscription_cycle", "subscription_create"]


def test_renewal_failed_leaves_an_open_invoice_and_the_subscription_past_due(stand_in):
    _, sub = stand_in.subscribe()

    result = stand_in.advance(sub.id, "renewal_failed", decline_code="insufficient_funds")

    assert result["events"] == ["customer.subscription.updated", "invoice.created", "invoice.finalized",
                                "payment_intent.payment_failed", "invoice.payment_failed",
                                "customer.subscription.updated"]
    assert result["subscription"]["status"] == "past_due"
    invoice = stand_in.client.v1.invoices.retrieve(result["invoice"]["id"])
    assert (invoice.status, invoice.amount_paid, invoice.attempt_count) == ("open", 0, 1)
    assert invoice.next_payment_attempt is not None
    intent = stand_in.client.v1.payment_intents.retrieve(_intent_of(stand_in, invoice))
    assert intent.last_payment_error.decline_code == "insufficient_funds"
    updated = stand_in.client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert (updated.data.object.status, updated.data.previous_attributes.status) == ("past_due", "active")


def test_renewal_paid_after_a_failure_pays_the_open_invoice_and_reactivates(stand_in):
    _, sub = stand_in.subscribe()
    failed = stand_in.advance(sub.id, "renewal_failed")

    paid = stand_in.advance(sub.id, "renewal_paid")

    assert paid["invoice"]["id"] == failed["invoice"]["id"]
    assert (paid["invoice"]["status"], paid["invoice"]["attempt_count"]) == ("paid", 2)
    assert paid["subscription"]["status"] == "active"
    assert paid["subscription"]["items"]["data"][0]["current_period_end"] == failed["subscription"]["items"]["data"][0]["current_period_end"]


def test_period_end_with_cancel_at_period_end_cancels_and_emits_deleted(stand_in):
    _, sub = stand_in.subscribe()
    stand_in.client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})

    result = stand_in.advance(sub.id, "period_end")

    assert result["events"] == ["customer.subscription.deleted"]
    ended = stand_in.client.v1.subscriptions.retrieve(sub.id)
    assert (ended.status, ended.cancellation_details.reason) == ("canceled", "cancellation_requested")
    assert stand_in.control("POST", f"/subscriptions/{sub.id}/advance", {"outcome": "renewal_paid"},
                            expect=409)["error"] == "bad_advance"


def test_period_end_without_cancellation_renews_like_a_paid_renewal(stand_in):
    _, sub = stand_in.subscribe()

    result = stand_in.advance(sub.id, "period_end")

    assert result["events"][0] == "customer.subscription.updated" and result["events"][-1] == "invoice.payment_succeeded"
    assert result["subscription"]["items"]["data"][0]["current_period_start"] == sub["items"].data[0].current_period_end


def test_period_end_on_a_past_due_subscription_cancels_it_for_nonpayment(stand_in):
    _, sub = stand_in.subscribe()
    stand_in.advance(sub.id, "renewal_failed")

    result = stand_in.advance(sub.id, "period_end")

    assert result["events"] == ["customer.subscription.deleted"]
    assert result["subscription"]["cancellation_details"]["reason"] == "payment_failed"


def test_failed_retries_beyond_the_limit_end_the_subscription(stand_in_factory):
    stand_in = stand_in_factory(payment_retries=1)
    _, sub = stand_in.subscribe()

    first = stand_in.advance(sub.id, "renewal_failed")
    second = stand_in.advance(sub.id, "renewal_failed")

    assert first["subscription"]["status"] == "past_due"
    assert second["events"] == ["payment_intent.payment_failed", "invoice.payment_failed",
                                "customer.subscription.deleted"]
    assert second["subscription"]["status"] == "canceled"


def test_exhausted_retries_can_mark_the_subscription_unpaid_instead(stand_in_factory):
    stand_in = stand_in_factory(payment_retries=0, after_failed_retries="unpaid")
    _, sub = stand_in.subscribe()

    result = stand_in.advance(sub.id, "renewal_failed")

    assert result["subscription"]["status"] == "unpaid"
    assert result["events"][-1] == "customer.subscription.updated"


def test_a_yearly_plan_renews_a_year_later(stand_in):
    _, sub = stand_in.subscribe(5000, "year")

    result = stand_in.advance(sub.id, "renewal_paid")

    assert sub["items"].data[0].current_period_end - sub["items"].data[0].current_period_start in (365 * 86400, 366 * 86400)
    assert result["subscription"]["items"]["data"][0]["current_period_end"] - result["subscription"]["items"]["data"][0]["current_period_start"] \
        in (365 * 86400, 366 * 86400)


def test_unknown_outcomes_and_subscriptions_are_refused(stand_in):
    _, sub = stand_in.subscribe()

    assert stand_in.control("POST", f"/subscriptions/{sub.id}/advance", {"outcome": "explode"},
                            expect=400)["error"] == "bad_advance"
    assert stand_in.control("POST", "/subscriptions/sub_nothere/advance", {"outcome": "renewal_paid"},
                            expect=404)["error"] == "no_such_subscription"


# -- changes through the API ----------------------------------------------------------------


def test_setting_cancel_at_period_end_emits_updated_with_previous_attributes(stand_in):
    _, sub = stand_in.subscribe()

    changed = stand_in.client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})

    event = stand_in.client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert changed.cancel_at_period_end is True and changed.cancel_at == sub["items"].data[0].current_period_end
    assert event.data.previous_attributes.cancel_at_period_end is False
    assert event.data.object.cancel_at_period_end is True
    assert event["request"]["idempotency_key"]


def test_a_plan_change_names_the_item_it_replaces(stand_in):
    _, sub = stand_in.subscribe(500)
    business = stand_in.plan(1500, name="Business")
    item = sub["items"].data[0]

    changed = stand_in.client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": item.id, "price": business.id}], "proration_behavior": "none"})

    event = stand_in.client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert [(i.id, i.price.id) for i in changed["items"].data] == [(item.id, business.id)]
    assert event.data.previous_attributes["items"].data[0].price.id == item.price.id
    assert stand_in.client.v1.invoices.list(params={"subscription": sub.id}).data[0].id == sub.latest_invoice


def test_an_item_without_an_id_is_added_and_the_same_price_twice_is_refused(stand_in):
    _, sub = stand_in.subscribe(500)
    addon = stand_in.plan(200, name="Extra mailbox")

    added = stand_in.client.v1.subscriptions.update(sub.id, params={"items": [{"price": addon.id}],
                                                                   "proration_behavior": "none"})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stand_in.client.v1.subscriptions.update(sub.id, params={"items": [{"price": addon.id}]})

    assert len(added["items"].data) == 2
    assert refused.value.param == "items[0][price]"


def test_always_invoice_bills_the_proration_at_once(stand_in):
    _, sub = stand_in.subscribe(500)
    business = stand_in.plan(1500, name="Business")
    before = stand_in.last_event_id()

    changed = stand_in.client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": sub["items"].data[0].id, "price": business.id}], "proration_behavior": "always_invoice"})

    invoice = stand_in.client.v1.invoices.retrieve(changed.latest_invoice)
    assert stand_in.event_types(since=before) == ["customer.subscription.updated", "invoice.created",
                                                  "invoice.finalized", "payment_intent.succeeded",
                                                  "invoice.paid", "invoice.payment_succeeded"]
    assert invoice.billing_reason == "subscription_update" and invoice.status == "paid"
    amounts = [line.amount for line in invoice.lines.data]
    assert len(amounts) == 2 and amounts[0] < 0 < amounts[1]
    assert 990 <= invoice.amount_paid <= 1000  # a whole period's difference, less a few seconds


def test_create_prorations_adds_the_lines_to_the_next_renewal(stand_in):
    _, sub = stand_in.subscribe(500)
    business = stand_in.plan(1500, name="Business")
    stand_in.client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": sub["items"].data[0].id, "price": business.id}]})

    renewal = stand_in.advance(sub.id, "renewal_paid")["invoice"]

    prorations = [line for line in renewal["lines"]["data"]
                  if line["parent"]["subscription_item_details"]["proration"]]
    assert len(prorations) == 2
    assert renewal["amount_paid"] == 1500 + sum(line["amount"] for line in prorations)


def test_a_new_billing_interval_restarts_the_cycle_and_bills_at_once(stand_in):
    _, sub = stand_in.subscribe(500, "month")
    yearly = stand_in.plan(5000, "year", name="Shared Student yearly")

    changed = stand_in.client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": sub["items"].data[0].id, "price": yearly.id}]})

    invoice = stand_in.client.v1.invoices.retrieve(changed.latest_invoice)
    assert changed["items"].data[0].current_period_end - changed["items"].data[0].current_period_start in (365 * 86400, 366 * 86400)
    assert invoice.status == "paid" and 4500 <= invoice.amount_paid <= 4510


def test_cancel_by_delete_emits_deleted_and_a_second_cancel_is_refused(stand_in):
    _, sub = stand_in.subscribe()

    canceled = stand_in.client.v1.subscriptions.cancel(sub.id)

    assert canceled.status == "canceled" and canceled.ended_at is not None
    assert stand_in.event_types()[-1] == "customer.subscription.deleted"
    with pytest.raises(stripe.InvalidRequestError):
        stand_in.client.v1.subscriptions.cancel(sub.id)
    with pytest.raises(stripe.InvalidRequestError):
        stand_in.client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    assert stand_in.client.v1.subscriptions.list().data == []
    assert [s.id for s in stand_in.client.v1.subscriptions.list(params={"status": "canceled"}).data] == [sub.id]


# -- refunds ----------------------------------------------------------------------------------


def test_a_refund_on_the_payment_intent_refunds_the_charge(stand_in):
    session, _ = stand_in.subscribe(500)
    invoice = stand_in.client.v1.invoices.retrieve(session.invoice)

    paid_by = _intent_of(stand_in, invoice)
    partial = stand_in.client.v1.refunds.create(params={"payment_intent": paid_by, "amount": 200})
    rest = stand_in.client.v1.refunds.create(params={"payment_intent": paid_by})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stand_in.client.v1.refunds.create(params={"payment_intent": paid_by})

    charge = stand_in.client.v1.charges.retrieve(partial.charge)
    assert partial.id.startswith("re_") and (partial.amount, rest.amount) == (200, 300)
    assert (charge.amount_refunded, charge.refunded) == (500, True)
    assert refused.value.code == "charge_already_refunded"
    assert stand_in.event_types()[-2:] == ["refund.created", "charge.refunded"]


# -- command line ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_module_serves_with_the_supervisors_flags_and_the_clock_cli_advances(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox.stripe", "--host", "127.0.0.1", "--port", str(port),
         "--state-dir", str(tmp_path), "--key", KEY, "--webhook-secret", WEBHOOK_SECRET, "--webhook-url", ""],
        cwd=CHECKOUT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def ready():
            try:
                return requests.get(f"{url}/_sandbox/state", timeout=1).status_code == 200
            except requests.RequestException:
                assert server.poll() is None, server.stdout.read().decode()
                return False
        wait_for(ready, timeout=15, what="the stand-in to listen")
        client = stripe.StripeClient(KEY, base_addresses={"api": url}, max_network_retries=0)
        product = client.v1.products.create(params={"name": "Shared Student"})
        price = client.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 500,
                                                "recurring": {"interval": "month"}})
        session = client.v1.checkout.sessions.create(params={
            "mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "https://shop.example/ok", "customer_email": "ada@shop.example"})
        paid = requests.post(f"{url}/_sandbox/checkout/{session.id}/pay", json={"card": "4242424242424242"},
                             timeout=10).json()

        advanced = subprocess.run(
            [sys.executable, "-m", "sandbox.stripe", "advance", "--url", url, paid["session"]["subscription"],
             "--outcome", "renewal_failed"], cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=30)

        assert advanced.returncode == 0, advanced.stderr
        printed = json.loads(advanced.stdout)
        assert printed["subscription"]["status"] == "past_due"
        assert printed["events"] == ["customer.subscription.updated", "invoice.created", "invoice.finalized",
                                     "payment_intent.payment_failed", "invoice.payment_failed",
                                     "customer.subscription.updated"]
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert (tmp_path / "state.sqlite3").exists()
    log = server.stdout.read().decode()
    assert KEY not in log and "/v1/checkout/sessions" in log


def test_the_clock_cli_reports_a_refusal_with_a_nonzero_exit(stand_in):
    result = subprocess.run(
        [sys.executable, "-m", "sandbox.stripe", "advance", "--url", stand_in.url, "sub_nothere"],
        cwd=CHECKOUT, env={**os.environ, "PYTHONPATH": str(CHECKOUT)}, capture_output=True, text=True, timeout=30)

    assert result.returncode == 1 and "no_such_subscription" in result.stderr


def _intent_of(stand_in, invoice) -> str:
    """The PaymentIntent of an invoice: through its InvoicePayment since API 2025-03-31."""
    return stand_in.client.v1.invoice_payments.list(params={"invoice": invoice.id}).data[0].payment.payment_intent
