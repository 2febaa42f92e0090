"""A local stand-in for Stripe, enough for mpanel's checkout, billing and webhooks.

Protocol (as in docs/api-contracts.md and as the official ``stripe`` library speaks
it): ``/v1/...`` with ``Authorization: Bearer sk_...`` (HTTP Basic with the key as
user name works too), form-encoded parameters with bracketed keys, an optional
``Stripe-Version`` header, and ``Idempotency-Key`` on POST: the same key with the
same parameters replays the stored answer (``Idempotent-Replayed: true``), with
other parameters it is a 400 ``idempotency_error``; keys are kept 24 hours. Answers
are Stripe's objects (``livemode: false``) and lists; errors are Stripe's envelope
``{"error": {type, code, message, param, decline_code}}`` with 400/401/402/404.

Endpoints: products, prices (``lookup_keys[]``), coupons, promotion_codes,
customers, checkout/sessions (create, retrieve, list, line_items, expire),
subscriptions (retrieve, list, update, DELETE to cancel), invoices (retrieve, list,
lines), invoice_payments, payment_intents, charges, payment_methods, refunds, events.
The hosted payment page is ``/c/pay/<session id>`` (the session's ``url``).

Choices where the contract is silent:

- Checkout supports ``mode=subscription`` with recurring prices only. On the page
  a decline keeps the session open; every attempt of one session shares one
  PaymentIntent, and each decline emits ``payment_intent.payment_failed``. Input
  the real page refuses in the browser (a number failing the Luhn check, a past
  expiry, a short CVC) is refused without a PaymentIntent or event. A
  Luhn-valid number that is not a test card declines with ``test_mode_live_card``.
- A completed checkout emits exactly ``customer.created`` (new customers only),
  ``customer.subscription.created``, ``payment_intent.succeeded`` (not for 0),
  ``invoice.paid``, ``invoice.payment_succeeded``, ``checkout.session.completed``;
  every snapshot shows the finished state (the subscription is already active).
  Customers are never matched by e-mail: without ``customer`` a new one is made.
- A plan change must name the item it replaces (``items[0][id]=si_...`` with
  ``items[0][price]``): an item without ``id`` is added, as Stripe does, and the
  same price twice is refused. ``proration_behavior``: ``create_prorations``
  (default) adds credit/debit lines to the next renewal invoice,
  ``always_invoice`` bills them at once, ``none`` bills nothing. A new billing
  interval restarts the cycle and bills at once. Credits beyond the invoice go to
  the customer's balance. DELETE accepts ``invoice_now``/``prorate`` but issues no
  final invoice and no credit.
- Invoices answer both the 2025-03-31 shape (``parent.subscription_details``,
  ``payments`` through expand, ``invoice_payments``) and the older top-level
  ``subscription``, ``payment_intent``, ``charge`` and ``paid``. Subscriptions keep
  ``current_period_start/end`` at the top level as well as on each item.
- Test clock (``POST /_sandbox/subscriptions/<id>/advance`` or ``python -m
  sandbox.stripe advance``): ``renewal_paid`` starts the next period with a paid
  invoice (``payment_intent.succeeded``, ``invoice.paid``,
  ``invoice.payment_succeeded``, ``customer.subscription.updated``), or pays the
  open invoice of a past_due subscription; ``renewal_failed`` starts the next
  period with an open invoice (``payment_intent.payment_failed``,
  ``invoice.payment_failed``, ``customer.subscription.updated`` to past_due), or
  retries the open invoice; once a failed invoice has been attempted more than
  ``--payment-retries`` times the subscription is canceled
  (``customer.subscription.deleted``) or, with ``--after-failed-retries unpaid``,
  marked unpaid. ``period_end`` renews like ``renewal_paid`` unless the
  subscription is past_due or unpaid (then it ends for non-payment). Any outcome
  on a subscription with ``cancel_at_period_end`` ends it.
- Unknown parameters are refused ("Received unknown parameter"), as Stripe does.
- Events are kept 30 days, at most the newest 5000; idempotency keys 24 hours,
  at most the newest 2000. ``POST /_sandbox/reset`` empties everything.
- Events use ``api_version`` 2025-03-31.basil whatever the request's
  ``Stripe-Version``; non-checkout writes emit Stripe's usual events too
  (``product.created``, ``price.created``, ``customer.updated``, ``refund.created``,
  ``charge.refunded``, ...): restrict what the endpoint gets with ``--webhook-events``.
- A ``code`` fault answers a Stripe error whose HTTP status is the fault's
  ``code`` (402 is a card_error, 429 rate_limit, 409 lock_timeout, 5xx api_error
  with ``Stripe-Should-Retry: true``; default 500) and ``reason`` as message.

Control API (``/_sandbox/``, see sandbox.control): faults (operations such as
``checkout.sessions.create``, ``subscriptions.update``), state, reset, and
``POST /checkout/<id>/pay`` {card, exp_month?, exp_year?, cvc?, email?, name?,
promotion_code?}, ``POST /subscriptions/<id>/advance`` {outcome: renewal_paid |
renewal_failed | period_end, decline_code?}, ``GET /deliveries``
(?event=&type=&status=), ``GET|POST /webhooks`` {paused?, url?, discard_pending?},
``POST /events/<id>/resend`` (one synchronous attempt, even when paused) and
``GET /events/<id>/signed`` (the exact body and headers a delivery would send).
"""

from __future__ import annotations

import os

import argparse
import base64
import hmac
import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl

import requests
from flask import Flask, Response, current_app, jsonify, redirect, render_template, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from .control import ControlError, control_blueprint, json_object
from .faults import Fault, FaultRegistry
from .requestlog import RequestLog
from .serving import base_parser, serve
from .state import JsonStateStore
from .stripe_billing import (CLOCK_OUTCOMES, Billing, CheckoutClosed, ClockError, FormProblem, PaymentEntry,
                             PaymentResult)
from .stripe_cards import DECLINES, parse_expiry
from .stripe_objects import API_VERSION, Ledger, RequestInfo, initial_state, new_id
from .stripe_params import Params, StripeError, decode_form, fingerprint, invalid
from .stripe_webhooks import WebhookSender, WebhookSettings, event_payload, signature_header

log = logging.getLogger("sandbox.stripe")

IDEMPOTENCY_TTL = 24 * 3600
IDEMPOTENCY_LIMIT = 2000
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")

Handler = Callable[..., dict]

# (HTTP method, URL rule, operation name for faults, handler)
ROUTES: list[tuple[str, str, str, Handler]] = [
    ("POST", "/v1/products", "products.create", Billing.create_product),
    ("GET", "/v1/products", "products.list", Billing.list_products),
    ("GET", "/v1/products/<oid>", "products.retrieve", Billing.retrieve_product),
    ("POST", "/v1/products/<oid>", "products.update", Billing.update_product),
    ("POST", "/v1/prices", "prices.create", Billing.create_price),
    ("GET", "/v1/prices", "prices.list", Billing.list_prices),
    ("GET", "/v1/prices/<oid>", "prices.retrieve", Billing.retrieve_price),
    ("POST", "/v1/prices/<oid>", "prices.update", Billing.update_price),
    ("POST", "/v1/coupons", "coupons.create", Billing.create_coupon),
    ("GET", "/v1/coupons", "coupons.list", Billing.list_coupons),
    ("GET", "/v1/coupons/<oid>", "coupons.retrieve", Billing.retrieve_coupon),
    ("DELETE", "/v1/coupons/<oid>", "coupons.delete", Billing.delete_coupon),
    ("POST", "/v1/promotion_codes", "promotion_codes.create", Billing.create_promotion_code),
    ("GET", "/v1/promotion_codes", "promotion_codes.list", Billing.list_promotion_codes),
    ("GET", "/v1/promotion_codes/<oid>", "promotion_codes.retrieve", Billing.retrieve_promotion_code),
    ("POST", "/v1/promotion_codes/<oid>", "promotion_codes.update", Billing.update_promotion_code),
    ("POST", "/v1/customers", "customers.create", Billing.create_customer),
    ("GET", "/v1/customers", "customers.list", Billing.list_customers),
    ("GET", "/v1/customers/<oid>", "customers.retrieve", Billing.retrieve_customer),
    ("POST", "/v1/customers/<oid>", "customers.update", Billing.update_customer),
    # The hosted page's address is wherever the client reached this stand-in.
    ("POST", "/v1/checkout/sessions", "checkout.sessions.create",
     lambda billing, led, p: billing.create_checkout_session(led, p, _public_url())),
    ("GET", "/v1/checkout/sessions", "checkout.sessions.list", Billing.list_checkout_sessions),
    ("GET", "/v1/checkout/sessions/<oid>", "checkout.sessions.retrieve", Billing.retrieve_checkout_session),
    ("GET", "/v1/checkout/sessions/<oid>/line_items", "checkout.sessions.line_items",
     Billing.list_checkout_line_items),
    ("POST", "/v1/checkout/sessions/<oid>/expire", "checkout.sessions.expire", Billing.expire_checkout_session),
    ("GET", "/v1/subscriptions", "subscriptions.list", Billing.list_subscriptions),
    ("GET", "/v1/subscriptions/<oid>", "subscriptions.retrieve", Billing.retrieve_subscription),
    ("POST", "/v1/subscriptions/<oid>", "subscriptions.update", Billing.update_subscription),
    ("DELETE", "/v1/subscriptions/<oid>", "subscriptions.cancel", Billing.cancel_subscription),
    ("GET", "/v1/invoices", "invoices.list", Billing.list_invoices),
    ("GET", "/v1/invoices/<oid>", "invoices.retrieve", Billing.retrieve_invoice),
    ("GET", "/v1/invoices/<oid>/lines", "invoices.lines", Billing.list_invoice_lines),
    ("GET", "/v1/invoice_payments", "invoice_payments.list", Billing.list_invoice_payments),
    ("GET", "/v1/payment_intents", "payment_intents.list", Billing.list_payment_intents),
    ("GET", "/v1/payment_intents/<oid>", "payment_intents.retrieve", Billing.retrieve_payment_intent),
    ("GET", "/v1/charges/<oid>", "charges.retrieve", Billing.retrieve_charge),
    ("GET", "/v1/payment_methods/<oid>", "payment_methods.retrieve", Billing.retrieve_payment_method),
    ("POST", "/v1/refunds", "refunds.create", Billing.create_refund),
    ("GET", "/v1/refunds", "refunds.list", Billing.list_refunds),
    ("GET", "/v1/refunds/<oid>", "refunds.retrieve", Billing.retrieve_refund),
    ("GET", "/v1/events", "events.list", Billing.list_events),
    ("GET", "/v1/events/<oid>", "events.retrieve", Billing.retrieve_event),
]
OPERATIONS = frozenset(name for _, _, name, _ in ROUTES)


def create_app(
    state_path: str | Path,
    api_key: str,
    *,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    webhook_attempts: int = 6,
    webhook_retry_base: float = 0.5,
    webhook_timeout: float = 10.0,
    webhook_events: tuple[str, ...] = ("*",),
    public_url: str | None = None,
    business_name: str = "mpanel sandbox",
    payment_retries: int = 3,
    after_failed_retries: str = "cancel",
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Flask:
    store = JsonStateStore(state_path, initial_state)
    billing = Billing(business_name, payment_retries, after_failed_retries)
    faults = FaultRegistry(sleep)
    sender = WebhookSender(store, WebhookSettings(webhook_url or None, webhook_secret, webhook_attempts,
                                                  webhook_retry_base, webhook_timeout, tuple(webhook_events)), now)

    app = Flask(__name__, template_folder="stripe_templates")
    app.config["STRIPE_PUBLIC_URL"] = public_url
    app.extensions["sandbox.stripe"] = billing
    app.extensions["sandbox.stripe.webhooks"] = sender
    app.extensions["sandbox.faults"] = faults
    # Nothing secret travels in a Stripe URL: the key is in a header and card
    # numbers only in the payment page's form body, and neither is logged.
    app.wsgi_app = RequestLog(app.wsgi_app, log, ())

    def transaction(request_info: RequestInfo | None, work: Callable[[Ledger], Any]) -> Any:
        """Run ``work`` in one state transaction, then wake the webhook sender."""
        with store.change() as state:
            ledger = Ledger(state, now, request_info, sender.endpoint_for)
            result = work(ledger)
        if ledger.new_events:
            sender.wake()
        return result

    # -- the API -------------------------------------------------------------------

    def api_view(operation: str, handler: Handler):
        def view(**ids: str) -> Response:
            refusal = _check_credentials(api_key) or _check_version()
            if refusal is not None:
                return refusal
            try:
                tree = _request_params()
            except StripeError as exc:
                return _error_response(exc)
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            info = RequestInfo(new_id("req_", 14), key)

            def run() -> Response:
                try:
                    return transaction(info, lambda led: _answer(led, handler, billing, tree, ids, key, info))
                except StripeError as exc:
                    return _error_response(exc, info)

            return faults.answer(operation, run, _fault_refusal)

        view.__name__ = "api_" + operation.replace(".", "_")
        return view

    for method, rule, operation, handler in ROUTES:
        app.add_url_rule(rule, view_func=api_view(operation, handler), methods=[method])

    @app.errorhandler(NotFound)
    @app.errorhandler(MethodNotAllowed)
    def unknown_url(exc):
        if not request.path.startswith("/v1/"):
            return exc
        refusal = _check_credentials(api_key)
        if refusal is not None:
            return refusal
        return _error_response(StripeError(404, f"Unrecognized request URL ({request.method}: {request.path}). "
                                                "Please see https://stripe.com/docs or we can help at "
                                                "https://support.stripe.com/."))

    # -- the hosted payment page ---------------------------------------------------------

    @app.get("/c/pay/<session_id>")
    def payment_page(session_id: str):
        try:
            return transaction(None, lambda led: _page(billing, led, session_id))
        except LookupError:
            return _closed_page(None, 404)

    @app.post("/c/pay/<session_id>")
    def submit_payment(session_id: str):
        form = request.form
        entry = PaymentEntry(
            email=form.get("email"), name=form.get("name") or None, number=form.get("cardnumber", ""),
            expiry=parse_expiry(form.get("exp", "")), cvc=form.get("cvc", "").strip(),
            promotion_code=form.get("promotion_code") or None)
        values = {"email": entry.email or "", "name": entry.name or "", "promotion_code": entry.promotion_code or ""}
        try:
            if form.get("action") == "apply_promotion_code":
                def apply(led: Ledger):
                    session = billing.open_session(led, session_id)
                    billing.apply_promotion_code(led, session, entry.promotion_code or "")
                    return _page(billing, led, session_id, values=values)
                return transaction(None, apply)
            result = transaction(None, lambda led: billing.pay(led, session_id, entry, led.state["card_salt"]))
        except LookupError:
            return _closed_page(None, 404)
        except CheckoutClosed as exc:
            return _closed_page(exc.session, 409)
        except FormProblem as exc:
            problem = exc
            return transaction(None, lambda led: _page(billing, led, session_id, problem=problem, values=values,
                                                        status=400))
        if result.outcome == "paid":
            return redirect(result.redirect_url, code=303)
        problem = FormProblem(result.error.get("param") or "number", result.error["code"], result.error["message"])
        return transaction(None, lambda led: _page(billing, led, session_id, problem=problem, values=values,
                                                    status=402))

    # -- the control API -----------------------------------------------------------------

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
        found = [d for d in store.read()["deliveries"] if all(v is None or d.get(k) == v for k, v in wanted.items())]
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
        event = Ledger(store.read(), now).find("event", event_id)
        if event is None:
            raise ControlError(404, "no_such_event", f"no event {event_id}")
        if not sender.settings.secret:
            raise ControlError(409, "no_webhook_secret", "the stand-in was started without --webhook-secret")
        payload = event_payload(event)
        return jsonify({"payload": payload, "headers": {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(payload, sender.settings.secret, int(now()))}})

    app.register_blueprint(control)
    sender.start()
    return app


# -- request and answer helpers --------------------------------------------------------------


def _public_url() -> str:
    return current_app.config.get("STRIPE_PUBLIC_URL") or request.host_url


def _request_params() -> dict[str, Any]:
    pairs = parse_qsl(request.query_string.decode("utf-8", "replace"), keep_blank_values=True)
    if request.method == "POST":
        if request.mimetype not in ("", "application/x-www-form-urlencoded"):
            raise invalid("Invalid request: the body must be application/x-www-form-urlencoded.")
        pairs += parse_qsl(request.get_data(as_text=True), keep_blank_values=True)
    return decode_form(pairs)


def _answer(led: Ledger, handler: Handler, billing: Billing, tree: dict[str, Any], ids: dict[str, str],
            key: str | None, info: RequestInfo) -> Response:
    """Run one API operation inside the transaction, minding the idempotency key."""
    if key is not None:
        if len(key) > 255:
            raise invalid("Idempotency-Key must be at most 255 characters.")
        stored = led.state["idempotency"].get(key)
        if stored is not None and stored["created"] > led.now() - IDEMPOTENCY_TTL:
            if stored["fingerprint"] != fingerprint(request.method, request.path, tree):
                raise StripeError(400, "Keys for idempotent requests can only be used with the same parameters "
                                       f"they were first used with. Try using a key other than '{key}' if you "
                                       "meant to execute a different request.", type="idempotency_error")
            response = _json_response(json.loads(stored["body"]), stored["status"], info)
            response.headers["Idempotent-Replayed"] = "true"
            response.headers["Original-Request"] = stored["request_id"]
            return response
    params = Params(tree)
    expand = params.strings("expand")
    obj = handler(billing, led, params, *ids.values())
    params.reject_unknown()
    body = led.render(obj, expand)
    if key is not None:
        horizon = led.now() - IDEMPOTENCY_TTL
        # The library sends a key with every POST: keep a day's worth, and at most the
        # newest IDEMPOTENCY_LIMIT, so the state file stays small.
        recent = sorted(led.state["idempotency"].items(), key=lambda kv: kv[1]["created"])[-IDEMPOTENCY_LIMIT:]
        kept = {k: v for k, v in recent if v["created"] > horizon}
        kept[key] = {"fingerprint": fingerprint(request.method, request.path, tree), "status": 200,
                     "body": json.dumps(body), "created": led.now(), "request_id": info.id}
        led.state["idempotency"] = kept
    return _json_response(body, 200, info)


def _json_response(body: dict[str, Any], status: int, info: RequestInfo | None = None) -> Response:
    response = Response(json.dumps(body, indent=2) + "\n", status=status, mimetype="application/json")
    if info is not None:
        response.headers["Request-Id"] = info.id or ""
        if info.idempotency_key:
            response.headers["Idempotency-Key"] = info.idempotency_key
    response.headers["Stripe-Version"] = request.headers.get("Stripe-Version") or API_VERSION
    return response


def _error_response(exc: StripeError, info: RequestInfo | None = None) -> Response:
    response = _json_response(exc.body(), exc.status, info)
    if exc.status >= 500:
        response.headers["Stripe-Should-Retry"] = "true"
    return response


def _check_credentials(api_key: str) -> Response | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    offered = None
    if scheme.lower() == "bearer":
        offered = value.strip()
    elif scheme.lower() == "basic":
        try:
            offered = base64.b64decode(value.strip()).decode("utf-8").partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            offered = ""
    if not offered:
        error = StripeError(401, "You did not provide an API key. You need to provide your API key in the "
                                 "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                                 "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
                                 "or we can help at https://support.stripe.com/.")
    elif not hmac.compare_digest(offered.encode(), api_key.encode()):
        error = StripeError(401, f"Invalid API Key provided: {_masked(offered)}")
    else:
        return None
    response = _error_response(error)
    response.headers["WWW-Authenticate"] = 'Basic realm="Stripe"'
    return response


def _masked(key: str) -> str:
    """Stripe's way of naming a wrong key: the prefix and the last four characters."""
    prefix = key[:8] if key.startswith(("sk_test_", "rk_test_", "pk_test_", "sk_live_")) else ""
    if len(key) < len(prefix) + 8:
        return prefix + "*" * (len(key) - len(prefix))
    return prefix + "*" * (len(key) - len(prefix) - 4) + key[-4:]


def _check_version() -> Response | None:
    version = request.headers.get("Stripe-Version")
    if version is None or _VERSION.match(version):
        return None
    return _error_response(StripeError(400, f"Invalid Stripe API version: {version}", param="stripe_version"))


def _fault_refusal(fault: Fault) -> Response:
    status = fault.code if fault.code and 400 <= fault.code <= 599 else 500
    reason = fault.reason
    if status == 402:
        error = StripeError(402, reason or "Your card was declined.", type="card_error", code="card_declined",
                            decline_code="generic_decline")
    elif status == 429:
        error = StripeError(429, reason or "Too many requests hit the API too quickly. We recommend an "
                                           "exponential backoff of your requests.", code="rate_limit")
    elif status == 409:
        error = StripeError(409, reason or "This object cannot be accessed right now because another API request "
                                           "or Stripe process is currently accessing it.", code="lock_timeout")
    elif status >= 500:
        error = StripeError(status, reason or "An unknown error occurred (injected by the sandbox).",
                            type="api_error")
    else:
        error = StripeError(status, reason or "The request was refused (injected by the sandbox).")
    return _error_response(error, RequestInfo(new_id("req_", 14)))


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


def _page(billing: Billing, led: Ledger, session_id: str, problem: FormProblem | None = None,
          values: dict[str, str] | None = None, status: int = 200):
    try:
        session = billing.open_session(led, session_id)
    except CheckoutClosed as exc:
        return _closed_page(exc.session, 200)
    summary = billing.session_summary(led, session)
    values = values or {}
    html = render_template("checkout.html", session=session, summary=summary, problem=problem,
                           values={"email": summary["email"] or values.get("email", ""),
                                   "name": values.get("name", ""),
                                   "promotion_code": values.get("promotion_code", "")},
                           test_cards=_TEST_CARD_HINTS)
    return Response(html, status=status, mimetype="text/html")


def _closed_page(session: dict | None, status: int):
    html = render_template("checkout.html", session=session, summary=None, problem=None, values={},
                           test_cards=_TEST_CARD_HINTS)
    return Response(html, status=status, mimetype="text/html")


_TEST_CARD_HINTS = [
    ("4242 4242 4242 4242", "pays"),
    ("4000 0000 0000 0002", "generic_decline"),
    ("4000 0000 0000 9995", "insufficient_funds"),
    ("4000 0000 0000 0069", "expired_card"),
    ("4000 0000 0000 0127", "incorrect_cvc"),
    ("4000 0000 0000 0119", "processing_error"),
]


# -- command line ------------------------------------------------------------------------------


def serve_parser() -> argparse.ArgumentParser:
    parser = base_parser("python -m sandbox.stripe [serve]", "Local stand-in for the Stripe API.")
    parser.add_argument("--key", default=os.environ.get("MPANEL_SANDBOX_SECRET"),
                        required="MPANEL_SANDBOX_SECRET" not in os.environ,
                        help="secret key clients send as 'Authorization: Bearer ...' (or MPANEL_SANDBOX_SECRET, which keeps it out of `ps`)")
    parser.add_argument("--webhook-url", default="", help="endpoint that receives events (empty: no delivery)")
    parser.add_argument("--webhook-secret", default=os.environ.get("MPANEL_SANDBOX_WEBHOOK_SECRET", ""),
                        help="whsec_... signing secret for deliveries (or MPANEL_SANDBOX_WEBHOOK_SECRET)")
    parser.add_argument("--webhook-attempts", type=int, default=6, help="attempts per event (default 6)")
    parser.add_argument("--webhook-retry-base", type=float, default=0.5,
                        help="seconds before the first retry, doubling after each (default 0.5)")
    parser.add_argument("--webhook-timeout", type=float, default=10.0, help="seconds to wait for the endpoint")
    parser.add_argument("--webhook-events", default="*",
                        help="comma-separated event types the endpoint wants (default *, 'invoice.*' works)")
    parser.add_argument("--public-url", default=None,
                        help="base URL for the hosted payment page links (default: the address clients used)")
    parser.add_argument("--business-name", default="mpanel sandbox")
    parser.add_argument("--payment-retries", type=int, default=3,
                        help="automatic retries of a failed renewal before giving up (default 3)")
    parser.add_argument("--after-failed-retries", choices=("cancel", "unpaid"), default="cancel",
                        help="what happens to a subscription when retries are exhausted (default cancel)")
    return parser


def advance_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox.stripe advance",
                                     description="Move a subscription through the end of its period.")
    parser.add_argument("--url", required=True, help="the stand-in, e.g. http://127.0.0.1:24111")
    parser.add_argument("subscription", help="sub_... id")
    parser.add_argument("--outcome", choices=CLOCK_OUTCOMES, default="renewal_paid")
    parser.add_argument("--decline-code", choices=sorted(DECLINES), default="generic_decline",
                        help="why a renewal_failed charge declines")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "advance":
        return _advance_command(advance_parser().parse_args(argv[1:]))
    if argv and argv[0] == "serve":
        argv = argv[1:]
    parser = serve_parser()
    args = parser.parse_args(argv)
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret")
    app = create_app(
        args.state_dir / "state.json", args.key, webhook_url=args.webhook_url or None,
        webhook_secret=args.webhook_secret or None, webhook_attempts=args.webhook_attempts,
        webhook_retry_base=args.webhook_retry_base, webhook_timeout=args.webhook_timeout,
        webhook_events=tuple(e.strip() for e in args.webhook_events.split(",") if e.strip()),
        public_url=args.public_url, business_name=args.business_name, payment_retries=args.payment_retries,
        after_failed_retries=args.after_failed_retries)
    serve(app, args)
    return 0


def _advance_command(args: argparse.Namespace) -> int:
    url = f"{args.url.rstrip('/')}/_sandbox/subscriptions/{args.subscription}/advance"
    try:
        response = requests.post(url, json={"outcome": args.outcome, "decline_code": args.decline_code}, timeout=30)
    except requests.RequestException as exc:
        print(f"cannot reach the stand-in at {args.url}: {exc}", file=sys.stderr)
        return 2
    try:
        body = response.json()
    except ValueError:
        print(f"unexpected answer (HTTP {response.status_code}): {response.text[:200]}", file=sys.stderr)
        return 2
    if response.status_code != 200:
        print(f"{body.get('error')}: {body.get('message')}", file=sys.stderr)
        return 1
    sub, invoice = body["subscription"], body["invoice"]
    print(json.dumps({
        "subscription": {key: sub[key] for key in ("id", "status", "current_period_start", "current_period_end",
                                                   "cancel_at_period_end")},
        "invoice": None if invoice is None else {key: invoice[key] for key in
                                                 ("id", "status", "amount_due", "amount_paid", "attempt_count")},
        "events": body["events"],
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
