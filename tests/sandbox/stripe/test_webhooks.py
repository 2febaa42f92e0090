"""Events reach the webhook endpoint signed, asynchronously, and again until it says 2xx."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time

import pytest
import requests
import stripe

from tests.sandbox.stripe.stand_in import WEBHOOK_SECRET, wait_for


def test_a_delivered_event_verifies_with_the_official_library(hooked, receiver):
    hooked.client.v1.customers.create(params={"email": "ada@shop.example"})

    delivery = wait_for(lambda: receiver.received, what="a delivery")[0]
    event = stripe.Webhook.construct_event(delivery["body"], delivery["headers"]["Stripe-Signature"],
                                           WEBHOOK_SECRET, tolerance=300)

    assert event.type == "customer.created" and event.data.object.email == "ada@shop.example"
    assert delivery["headers"]["Content-Type"].startswith("application/json")
    assert event["request"]["id"].startswith("req_")


def test_the_signature_is_hmac_sha256_of_timestamp_dot_raw_body(hooked, receiver):
    hooked.client.v1.customers.create(params={"email": "ada@shop.example"})

    delivery = wait_for(lambda: receiver.received, what="a delivery")[0]
    parts = [part.split("=", 1) for part in delivery["headers"]["Stripe-Signature"].split(",")]
    timestamp = dict(parts)["t"]
    expected = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + delivery["body"],
                        hashlib.sha256).hexdigest()

    assert ["v1", expected] in parts
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery["body"], delivery["headers"]["Stripe-Signature"],
                                       "whsec_someone_else", tolerance=300)


CHECKOUT_EVENTS = ["checkout.session.completed", "customer.created", "customer.subscription.created",
                   "customer.subscription.updated", "invoice.paid", "invoice.payment_succeeded",
                   "payment_intent.succeeded"]


def test_every_event_of_a_paid_checkout_reaches_the_endpoint_in_no_promised_order(hooked, receiver):
    session, sub = hooked.subscribe()

    def checkout_types():
        types = sorted(t for t in receiver.types() if not t.startswith(("product.", "price.")))
        return types if len(types) >= len(CHECKOUT_EVENTS) else None

    assert wait_for(checkout_types, what="the six checkout events") == CHECKOUT_EVENTS
    [completed] = [e["data"]["object"] for e in receiver.events() if e["type"] == "checkout.session.completed"]
    assert (completed["id"], completed["subscription"], completed["metadata"]) == \
        (session.id, sub.id, {"subscription_id": "7"})


def test_a_non_2xx_answer_is_retried_until_the_endpoint_accepts(hooked, receiver):
    receiver.statuses = [500, 503, 404]

    customer = hooked.client.v1.customers.create(params={"email": "ada@shop.example"})

    wait_for(lambda: len(receiver.received) == 4, what="four attempts")
    delivery = wait_for(lambda: [d for d in hooked.deliveries(type="customer.created") if d["status"] == "delivered"],
                        what="the delivery to be recorded")[0]
    assert [a["status"] for a in delivery["attempts"]] == [500, 503, 404, 200]
    assert len({json.loads(r["body"])["id"] for r in receiver.received}) == 1
    event = hooked.client.v1.events.retrieve(delivery["event"])
    assert event.pending_webhooks == 0 and event.data.object.id == customer.id


def test_events_are_delivered_concurrently_to_a_slow_endpoint(hooked, receiver):
    receiver.hold = 0.5
    count = 8
    started = time.monotonic()

    for n in range(count):
        hooked.client.v1.customers.create(params={"email": f"c{n}@shop.example"})
    wait_for(lambda: len(receiver.received) == count, timeout=count * receiver.hold, what="every delivery")

    # One after another this would take count x 0.5 s.
    assert time.monotonic() - started < count * receiver.hold / 2
    assert receiver.most_at_once > 1
    assert sorted(receiver.types()) == ["customer.created"] * count


def test_a_failing_delivery_is_retried_while_the_others_go_through(hooked, receiver):
    receiver.hold = 0.2
    receiver.statuses = [500, 500]

    for n in range(4):
        hooked.client.v1.customers.create(params={"email": f"c{n}@shop.example"})

    delivered = wait_for(lambda: (lambda ds: ds if len(ds) == 4 else None)(hooked.deliveries(status="delivered")),
                         what="four deliveries")
    attempts = sorted([a["status"] for a in d["attempts"]] for d in delivered)
    assert sum(len(a) for a in attempts) == 6 and all(a[-1] == 200 for a in attempts)
    assert [500] in [a[:1] for a in attempts]


def test_delivery_gives_up_after_the_configured_attempts(stand_in_factory, receiver):
    hooked = stand_in_factory(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET, webhook_attempts=3)
    receiver.statuses = [500] * 10

    hooked.client.v1.customers.create(params={"email": "ada@shop.example"})

    delivery = wait_for(lambda: [d for d in hooked.deliveries() if d["status"] == "failed"], what="giving up")[0]
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 500]
    assert len(receiver.received) == 3


def test_an_unreachable_endpoint_is_recorded_as_a_connection_error(stand_in_factory):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    hooked = stand_in_factory(webhook_url=f"http://127.0.0.1:{closed_port}/hook", webhook_secret=WEBHOOK_SECRET,
                              webhook_attempts=2)

    hooked.client.v1.customers.create(params={"email": "ada@shop.example"})

    delivery = wait_for(lambda: [d for d in hooked.deliveries() if d["status"] == "failed"], what="giving up")[0]
    assert [a["status"] for a in delivery["attempts"]] == [None, None]
    assert "ConnectionError" in delivery["attempts"][0]["error"]


def test_a_paused_endpoint_gets_nothing_until_resumed(hooked, receiver):
    hooked.control("POST", "/webhooks", {"paused": True})
    hooked.client.v1.customers.create(params={"email": "ada@shop.example"})
    pending = hooked.deliveries(status="pending")

    hooked.control("POST", "/webhooks", {"paused": False})

    wait_for(lambda: receiver.types() == ["customer.created"], what="the held-back event")
    assert len(pending) == 1 and pending[0]["attempts"] == []


def test_resend_delivers_an_event_again_at_once_even_while_paused(hooked, receiver):
    hooked.client.v1.customers.create(params={"email": "ada@shop.example"})
    first = wait_for(lambda: receiver.events(), what="the first delivery")[0]
    hooked.control("POST", "/webhooks", {"paused": True})

    resent = hooked.control("POST", f"/events/{first['id']}/resend")

    assert resent["status"] == "delivered" and resent["manual"] is True
    assert [e["id"] for e in receiver.events()] == [first["id"], first["id"]]


def test_events_can_be_delivered_by_hand_in_any_order(hooked, receiver):
    hooked.control("POST", "/webhooks", {"paused": True})
    hooked.subscribe()
    events = hooked.client.v1.events.list(params={"limit": 3}).data  # newest first
    discarded = hooked.control("POST", "/webhooks", {"paused": False, "discard_pending": True})["discarded"]

    for event in events:
        hooked.control("POST", f"/events/{event.id}/resend")

    assert discarded == 9  # product, price and the seven checkout events
    assert receiver.types() == ["checkout.session.completed", "customer.subscription.updated",
                                "invoice.payment_succeeded"]


def test_the_signed_route_gives_exactly_what_a_delivery_would_send(hooked, receiver):
    hooked.control("POST", "/webhooks", {"paused": True})
    customer = hooked.client.v1.customers.create(params={"email": "ada@shop.example"})
    event_id = hooked.client.v1.events.list(params={"limit": 1}).data[0].id

    signed = hooked.control("GET", f"/events/{event_id}/signed")

    event = stripe.Webhook.construct_event(signed["payload"], signed["headers"]["Stripe-Signature"],
                                           WEBHOOK_SECRET, tolerance=300)
    assert event.data.object.id == customer.id


def test_only_the_event_types_the_endpoint_wants_are_delivered(stand_in_factory, receiver):
    hooked = stand_in_factory(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET,
                              webhook_events=("checkout.session.completed", "invoice.*"))

    hooked.subscribe()

    wait_for(lambda: len(receiver.types()) >= 3, what="three deliveries")
    assert sorted(receiver.types()) == ["checkout.session.completed", "invoice.paid", "invoice.payment_succeeded"]
    skipped = hooked.client.v1.events.list(params={"type": "customer.created"}).data[0]
    assert skipped.pending_webhooks == 0


def test_pending_deliveries_resume_after_a_restart(stand_in_factory, receiver):
    first = stand_in_factory(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET)
    first.control("POST", "/webhooks", {"paused": True})
    first.client.v1.customers.create(params={"email": "ada@shop.example"})
    first.stop()

    stand_in_factory(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET)

    wait_for(lambda: receiver.types() == ["customer.created"], what="the delivery after restart")


def test_without_a_webhook_url_events_are_kept_but_not_delivered(stand_in_factory):
    quiet = stand_in_factory()

    quiet.client.v1.customers.create(params={"email": "ada@shop.example"})

    assert quiet.event_types() == ["customer.created"]
    assert quiet.deliveries() == []
    assert quiet.client.v1.events.list().data[0].pending_webhooks == 0
    assert requests.post(f"{quiet.url}/_sandbox/events/{quiet.last_event_id()}/resend",
                         timeout=10).status_code == 409
