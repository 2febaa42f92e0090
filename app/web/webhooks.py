"""POST /api/webhooks/stripe: verify, record once (processing requested with it), answer in milliseconds."""
from __future__ import annotations

import json
import logging
import time

import stripe
from flask import Blueprint, current_app, jsonify, request

from app.observe import logs, metrics
from app.web.dropped_connections import once_more_on_a_fresh_connection
from app.web.errors import ApiError
from app.services.orders.lifecycle import record_event

log = logging.getLogger("mpanel.webhooks")
bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks")

TOLERANCE_SECONDS = 300


@bp.post("/stripe")
def stripe_webhook():
    try:
        return _take_event()
    except ApiError as refused:
        metrics.WEBHOOKS_REFUSED.labels(refused.code).inc()
        raise


def _take_event():
    started = time.perf_counter()
    settings = current_app.config["MPANEL"]
    if not settings.STRIPE_WEBHOOK_SECRET:
        # An empty secret would make any body "verify": refuse to take events at all.
        raise ApiError(503, "webhooks_not_configured", "STRIPE_WEBHOOK_SECRET is not set", "Stripe-Signature")
    raw = request.get_data(cache=False)  # the signature covers these exact bytes
    header = request.headers.get("Stripe-Signature")
    if not header:
        raise ApiError(400, "missing_signature", "Stripe-Signature header is required", "Stripe-Signature")
    try:
        # The signature alone (construct_event would also build a StripeObject tree we never
        # read, a third of the answer's time); the timestamp is checked only given a tolerance.
        stripe.WebhookSignature.verify_header(raw.decode("utf-8"), header, settings.STRIPE_WEBHOOK_SECRET,
                                              tolerance=TOLERANCE_SECONDS)
        event = json.loads(raw)
    except stripe.SignatureVerificationError:
        raise ApiError(400, "bad_signature", "Stripe-Signature does not verify (wrong secret, altered body "
                       "or older than 300 s)", "Stripe-Signature") from None
    except ValueError:  # also a body that is not UTF-8
        raise ApiError(400, "invalid_json", "the body is not a Stripe event", "body") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise ApiError(400, "invalid_event", "the body is not a Stripe event", "body")
    # Its processing is requested in the same transaction; recording twice is harmless (unique id).
    with logs.about(stripe_event=event["id"]):
        new, _ = once_more_on_a_fresh_connection(record_event, settings, event)
        log.info("stripe event %s (%s) received%s", event["id"], event["type"], "" if new else ", a duplicate")
    metrics.WEBHOOKS_RECEIVED.labels("true" if not new else "false").inc()
    response = jsonify(received=True, duplicate=not new)
    # The answer's own time, without the network and the client (`mpanel bench journey` reads it).
    response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
    return response
