"""The Stripe stand-in's own routes under ``/_sandbox/``, beside the shared ones.

Paying a session as a test would on the page, moving a subscription through its period
(the test clock), and watching or steering webhook deliveries.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from flask import Blueprint, jsonify, request

from ..common.control import ControlError, control_blueprint, json_object
from ..common.faults import FaultRegistry
from ..common.state import StateStore
from .api import OPERATIONS
from .billing import Billing, CheckoutClosed, ClockError, FormProblem, PaymentEntry, PaymentResult
from .objects import Ledger, Transaction
from .webhooks import WebhookSender, event_payload, signature_header


def control_routes(faults: FaultRegistry, store: StateStore, billing: Billing, sender: WebhookSender,
                   transaction: Transaction, now: Callable[[], float]) -> Blueprint:
    """The shared control blueprint with this stand-in's routes added."""
    control = control_blueprint(faults, store, OPERATIONS, on_reset=sender.restore_defaults)

    @control.post("/checkout/<session_id>/pay")
    def pay_for_tests(session_id: str):
        body = json_object()
        entry = _entry_from_json(body, now())
        try:
            result: PaymentResult = transaction(
                None, lambda led: billing.pay(led, session_id, entry, led.state["card_salt"]))
        except LookupError as exc:
            raise ControlError(404, "no_such_session", f"no checkout session {session_id}") from exc
        except CheckoutClosed as exc:
            raise ControlError(409, "session_not_open", str(exc)) from exc
        except FormProblem as exc:
            return jsonify({"outcome": "invalid", "error": {"code": exc.code, "message": exc.message,
                                                           "field": exc.field}}), 400
        status = 200 if result.outcome == "paid" else 402
        return jsonify({"outcome": result.outcome, "session": result.session, "error": result.error,
                        "redirect_url": result.redirect_url}), status

    @control.post("/subscriptions/<subscription_id>/advance")
    def advance(subscription_id: str):
        body = json_object()
        outcome = body.get("outcome")
        decline_code = body.get("decline_code", "generic_decline")
        try:
            result = transaction(None, lambda led: billing.advance(led, subscription_id, outcome, decline_code))
        except LookupError as exc:
            raise ControlError(404, "no_such_subscription", f"no subscription {subscription_id}") from exc
        except ClockError as exc:
            raise ControlError(409 if "is " in str(exc) else 400, "bad_advance", str(exc)) from exc
        return jsonify(result)

    @control.get("/deliveries")
    def deliveries():
        wanted = {name: request.args.get(name) for name in ("event", "type", "status")}
        with store.view() as state:
            found = state["deliveries"].where(**{k: v for k, v in wanted.items() if v is not None})
        return jsonify({"deliveries": found, "webhooks": sender.describe()})

    @control.get("/webhooks")
    def webhooks():
        return jsonify(sender.describe())

    @control.post("/webhooks")
    def configure_webhooks():
        body = json_object()
        paused = body.get("paused")
        if paused is not None and not isinstance(paused, bool):
            raise ControlError(400, "bad_webhooks", "paused must be true or false")
        changes: dict[str, Any] = {"paused": paused}
        if "url" in body:
            if body["url"] is not None and not isinstance(body["url"], str):
                raise ControlError(400, "bad_webhooks", "url must be a string or null")
            changes["url"] = body["url"]
        discarded = sender.discard_pending() if body.get("discard_pending") else 0
        return jsonify({**sender.configure(**changes), "discarded": discarded})

    @control.post("/events/<event_id>/resend")
    def resend(event_id: str):
        try:
            delivery = sender.resend(event_id)
        except ValueError as exc:
            raise ControlError(409, "no_webhook_url", str(exc)) from exc
        if delivery is None:
            raise ControlError(404, "no_such_event", f"no event {event_id}")
        return jsonify(delivery)

    @control.get("/events/<event_id>/signed")
    def signed(event_id: str):
        with store.view() as state:
            event = Ledger(state, now).find("event", event_id)
        if event is None:
            raise ControlError(404, "no_such_event", f"no event {event_id}")
        if not sender.settings.secret:
            raise ControlError(409, "no_webhook_secret", "the stand-in was started without --webhook-secret")
        payload = event_payload(event)
        return jsonify({"payload": payload, "headers": {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(payload, sender.settings.secret, int(now()))}})

    return control


def _entry_from_json(body: dict[str, Any], now: float) -> PaymentEntry:
    def text(name: str, default: str | None = None) -> str | None:
        value = body.get(name, default)
        if value is not None and not isinstance(value, (str, int)):
            raise ControlError(400, "bad_payment", f"{name} must be a string")
        return None if value is None else str(value)

    year = time.gmtime(now).tm_year + 2
    card = text("card", "")
    cvc = text("cvc") or ("1234" if (card or "").replace(" ", "").startswith(("34", "37")) else "123")
    try:
        expiry = (int(text("exp_month", "12")), int(text("exp_year", str(year))))
    except ValueError as exc:
        raise ControlError(400, "bad_payment", "exp_month and exp_year must be numbers") from exc
    return PaymentEntry(email=text("email", "customer@example.com"), name=text("name"), number=card or "",
                        expiry=(expiry[0], expiry[1] + 2000 if expiry[1] < 100 else expiry[1]), cvc=cvc,
                        promotion_code=text("promotion_code"))
