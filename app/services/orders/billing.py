"""Stripe, through the official library: the catalogue, checkout sessions, and re-reads.

With the locally generated key (sk_test_mpanel_...) the client talks to the Stripe
stand-in in sandbox/; with a real key (sk_live_/sk_test_ from the dashboard) it talks
to Stripe itself. Every call that creates something carries an idempotency key, so a
retried request never makes two sessions, prices or coupons.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import psycopg
import stripe

from app.db.orders import plans
from app.services.orders.orders import OrderConflict
from app.services.orders.lifecycle_rules import stripe_value
from app.settings import LOCAL_STRIPE_KEY_PREFIX, Settings

LOCAL_KEY_PREFIX = LOCAL_STRIPE_KEY_PREFIX

# The one Stripe API version mpanel speaks, sent as Stripe-Version on every request (never the
# account's default, which changes when someone upgrades it in the dashboard). The pinned
# stripe-python release is the one generated for it; the stand-in and stripe-mock model it too.
API_VERSION = "2026-08-26.dahlia"


class PaymentServiceError(Exception):
    """Stripe refused or could not be reached; the message is safe to show."""


def uses_sandbox(settings: Settings) -> bool:
    return bool(settings.STRIPE_API_BASE) and (
        settings.STRIPE_SECRET_KEY.startswith(LOCAL_KEY_PREFIX) or settings.stripe_api_base_from_env)


@functools.lru_cache(maxsize=4)
def _client(api_key: str, api_base: str | None) -> stripe.StripeClient:
    kwargs = {"base_addresses": {"api": api_base}} if api_base else {}
    return stripe.StripeClient(api_key, stripe_version=API_VERSION, max_network_retries=2, **kwargs)


def client(settings: Settings) -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise PaymentServiceError("STRIPE_SECRET_KEY is not set")
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE if uses_sandbox(settings) else None)


def _price_column(cycle: str) -> str:
    return "stripe_price_yearly" if cycle == "yearly" else "stripe_price_monthly"


def price_for(conn: psycopg.Connection, settings: Settings, plan: dict, cycle: str) -> str:
    """The Stripe price of a plan and billing cycle, created once (lookup key mpanel:<slug>:<cycle>)."""
    if plan.get(_price_column(cycle)):
        return plan[_price_column(cycle)]
    price_id = stripe_price(settings, plan, cycle)
    plans.set_stripe_price(conn, plan["id"], cycle, price_id)
    return price_id


def stripe_price(settings: Settings, plan: dict, cycle: str) -> str:
    """The plan's Stripe price for the cycle as Stripe has it: found by its lookup key or created
    (idempotently). Stripe only: the caller records it (plans.set_stripe_price)."""
    if plan.get(_price_column(cycle)):
        return plan[_price_column(cycle)]
    stripe_ = client(settings)
    lookup_key = f"mpanel:{plan['slug']}:{cycle}"
    found = stripe_.v1.prices.list(params={"lookup_keys": [lookup_key], "limit": 1}).data
    if found:
        price_id = found[0].id
    else:
        product = stripe_.v1.products.create(
            params={"name": plan["name"], "metadata": {"plan_slug": plan["slug"]}},
            options={"idempotency_key": f"mpanel-product-{plan['slug']}"})
        price_id = stripe_.v1.prices.create(params={
            "product": product.id, "currency": plan["currency"], "lookup_key": lookup_key,
            "unit_amount": plan["price_yearly_cents"] if cycle == "yearly" else plan["price_monthly_cents"],
            "recurring": {"interval": "year" if cycle == "yearly" else "month"},
            "metadata": {"plan_slug": plan["slug"], "billing_cycle": cycle},
        }, options={"idempotency_key": f"mpanel-price-{lookup_key}"}).id
    return price_id


def coupon_for(conn: psycopg.Connection, settings: Settings, promo: dict, currency: str) -> str:
    if promo.get("stripe_coupon_id"):
        return promo["stripe_coupon_id"]
    coupon_id = stripe_coupon(settings, promo, currency)
    plans.set_stripe_coupon(conn, promo["id"], coupon_id)
    return coupon_id


def stripe_coupon(settings: Settings, promo: dict, currency: str) -> str:
    """The promotion code's Stripe coupon (created idempotently). Stripe only: the caller records it."""
    if promo.get("stripe_coupon_id"):
        return promo["stripe_coupon_id"]
    params = {"duration": "forever", "name": promo["code"], "metadata": {"promo_code": promo["code"]}}
    if promo["percent_off"]:
        params["percent_off"] = promo["percent_off"]
    else:
        params.update(amount_off=promo["amount_off_cents"], currency=currency)
    return client(settings).v1.coupons.create(
        params=params, options={"idempotency_key": f"mpanel-coupon-{promo['code']}"}).id


def plan_for_price(conn: psycopg.Connection, price_id: str) -> dict | None:
    return plans.by_stripe_price(conn, price_id)


@dataclass(frozen=True)
class CheckoutTerms:
    """What one Stripe checkout for an order charges, and under which idempotency key. `attempt`
    0 is the order's own first checkout; n > 0 its n-th taking back after a cancellation."""

    subscription_id: int
    email: str
    plan: dict
    cycle: str
    promo: dict | None
    attempt: int = 0
    # A returning customer's Stripe customer: the session is theirs (their saved card offered),
    # and the new subscription is billed next to their other sites. None: Stripe makes one.
    stripe_customer: str | None = None

    @property
    def idempotency_key(self) -> str:
        base = f"mpanel-checkout-{self.subscription_id}"
        return base if self.attempt == 0 else f"{base}-{self.attempt}"


@dataclass(frozen=True)
class OpenedCheckout:
    session: stripe.checkout.Session
    price_id: str          # to record on the plan when it had none (plans.set_stripe_price)
    coupon_id: str | None  # likewise on the promotion code (plans.set_stripe_coupon)


def open_checkout(settings: Settings, terms: CheckoutTerms) -> OpenedCheckout:
    """The order's Stripe Checkout Session, with no database connection held: Stripe calls only
    (catalogue objects found or made idempotently, the session under the terms' key, so a
    retried request gets the same session back). PaymentServiceError when Stripe refuses."""
    try:
        price_id = stripe_price(settings, terms.plan, terms.cycle)
        coupon_id = stripe_coupon(settings, terms.promo, terms.plan["currency"]) if terms.promo else None
        sid = str(terms.subscription_id)
        params = {
            "mode": "subscription",
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": f"{settings.APP_URL}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{settings.MARKETING_SITE_URL}/checkout?canceled=1",
            "client_reference_id": sid,
            "metadata": {"subscription_id": sid},
            "subscription_data": {"metadata": {"subscription_id": sid}},
        }
        if terms.stripe_customer:  # Stripe takes one of the two, never both
            params["customer"] = terms.stripe_customer
        else:
            params["customer_email"] = terms.email
        if coupon_id:
            params["discounts"] = [{"coupon": coupon_id}]
        if terms.attempt:  # marks a take-back checkout (app/services/orders/checkout.py tells it from the first)
            params["metadata"]["take_back"] = str(terms.attempt)
        session = client(settings).v1.checkout.sessions.create(
            params=params, options={"idempotency_key": terms.idempotency_key})
    except stripe.StripeError as exc:
        raise PaymentServiceError(f"the payment service refused the checkout: {exc.user_message or exc}") from exc
    return OpenedCheckout(session, price_id, coupon_id)


def close_checkout_session(settings: Settings, session_id: str) -> None:
    """Make an earlier, unpaid checkout impossible to pay (its customer is starting over).
    Stripe decides the race: only a session Stripe reports expired (or no longer knows)
    counts as closed; one paid, or with a payment still processing, keeps its order."""
    stripe_ = client(settings)
    try:
        try:
            stripe_.v1.checkout.sessions.expire(session_id)
            return
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing":
                return  # Stripe no longer knows it (another account or key): it can take no money
        session = retrieve_session(settings, session_id)  # not open: find out why
    except stripe.StripeError as exc:
        raise PaymentServiceError(f"the payment service could not close the earlier checkout: "
                                  f"{exc.user_message or exc}") from exc
    if session.status == "expired":
        return
    if session.status != "complete":  # still open: Stripe refused for a reason of its own
        raise PaymentServiceError(f"the payment service could not close the earlier checkout ({session.status})")
    if session.payment_status in ("paid", "no_payment_required"):
        raise OrderConflict("customer.email", "the earlier order for this email has just been paid: "
                                              "watch your inbox for the welcome email")
    raise OrderConflict("customer.email", "the payment for the earlier order with this email is still being "
                                          "processed: we will email you when it completes")


def retrieve_subscription(settings: Settings, stripe_subscription_id: str) -> stripe.Subscription:
    return client(settings).v1.subscriptions.retrieve(stripe_subscription_id)


@dataclass(frozen=True)
class CardOnFile:
    brand: str
    last4: str
    exp_month: int
    exp_year: int

    def __str__(self) -> str:
        return f"{self.brand.title()} ending {self.last4}, expires {self.exp_month:02d}/{self.exp_year}"


def card_on_file(settings: Settings, stripe_subscription_id: str) -> CardOnFile | None:
    """The card Stripe charges the subscription's renewals to: its own default payment method, else
    its customer's invoice default (Stripe's order); None when neither is a card."""
    remote = client(settings).v1.subscriptions.retrieve(stripe_subscription_id, params={
        "expand": ["default_payment_method", "customer.invoice_settings.default_payment_method"]})
    method = stripe_value(remote, "default_payment_method") or stripe_value(
        remote, "customer", "invoice_settings", "default_payment_method")
    card = stripe_value(method, "card") if method is not None and not isinstance(method, str) else None
    if card is None:
        return None
    return CardOnFile(brand=str(stripe_value(card, "brand") or "card"), last4=str(stripe_value(card, "last4") or ""),
                      exp_month=int(stripe_value(card, "exp_month")), exp_year=int(stripe_value(card, "exp_year")))


def invoice_of_payment(settings: Settings, intent_id: str) -> str | None:
    """The invoice a PaymentIntent pays, through its InvoicePayment (API 2025-03-31 removed
    `payment_intent.invoice`); None for a payment of no invoice."""
    found = client(settings).v1.invoice_payments.list(params={
        "payment": {"type": "payment_intent", "payment_intent": intent_id}, "limit": 1}).data
    return found[0].invoice if found else None


def payment_failure_reason(settings: Settings, invoice_id: str) -> str | None:
    """Stripe's words for why the invoice's latest payment failed (its PaymentIntent's
    last_payment_error), or None when no attempt says."""
    found = client(settings).v1.invoice_payments.list(params={"invoice": invoice_id, "limit": 1}).data
    # A payment is a PaymentIntent or (paid out of band) a charge: only an intent says why it failed.
    intent_id = stripe_value(found[0], "payment", "payment_intent") if found else None
    if not intent_id:
        return None
    error = client(settings).v1.payment_intents.retrieve(intent_id).last_payment_error
    return (stripe_value(error, "message") or stripe_value(error, "decline_code") or stripe_value(error, "code")) \
        if error else None


def cancel_subscription(settings: Settings, stripe_subscription_id: str, idempotency_key: str) -> None:
    """Stop Stripe billing the subscription now (an operator destroys the site)."""
    client(settings).v1.subscriptions.cancel(stripe_subscription_id, options={"idempotency_key": idempotency_key})


def retrieve_session(settings: Settings, session_id: str) -> stripe.checkout.Session:
    return client(settings).v1.checkout.sessions.retrieve(session_id)
