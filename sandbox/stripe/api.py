"""The ``/v1`` API: its routes and the HTTP around each operation.

Credentials and the ``Stripe-Version`` header are checked first, then the form is
decoded, the injected faults consulted, and the operation run in one state transaction
that also stores the answer under its ``Idempotency-Key``. Answers are Stripe's JSON
objects; errors are Stripe's envelope, with ``Stripe-Should-Retry`` on 5xx.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from typing import Any, Callable
from urllib.parse import parse_qsl

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from ..common.faults import Fault, FaultRegistry
from .billing import Billing
from .objects import API_VERSION, Ledger, RequestInfo, Transaction, new_id
from . import schema
from .params import Params, StripeError, decode_form, fingerprint, invalid

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
    ("POST", "/v1/invoices/create_preview", "invoices.create_preview", Billing.create_invoice_preview),
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
    ("POST", "/v1/billing_portal/sessions", "billing_portal.sessions.create", Billing.create_portal_session),
    ("GET", "/v1/events", "events.list", Billing.list_events),
    ("GET", "/v1/events/<oid>", "events.retrieve", Billing.retrieve_event),
]
OPERATIONS = frozenset(name for _, _, name, _ in ROUTES)


def register_api(app: Flask, api_key: str, billing: Billing, faults: FaultRegistry,
                 transaction: Transaction) -> None:
    """Add every route of ``ROUTES``, and Stripe's 404 for any other ``/v1/`` address."""
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
                except schema.SchemaViolation as exc:  # the suite's check of the stand-in itself
                    return _error_response(StripeError(500, str(exc), type="api_error"), info)

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
    schema.check(body, f"{request.method} {request.path}")
    if key is not None:
        keys = led.state["idempotency"]
        # The library sends a key with every POST: keep a day's worth, and at most the
        # newest IDEMPOTENCY_LIMIT, so the state stays small.
        keys.pop(key, None)  # an expired key used again counts as new
        keys[key] = {"fingerprint": fingerprint(request.method, request.path, tree), "status": 200,
                     "body": json.dumps(body), "created": led.now(), "request_id": info.id}
        keys.delete_below("created", led.now() - IDEMPOTENCY_TTL, inclusive=True)
        keys.trim(IDEMPOTENCY_LIMIT)
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
