"""Stripe, through the official library: the catalogue, checkout sessions, and re-reads.

With the locally generated key (sk_test_mpanel_...) the client talks to the Stripe
stand-in in sandbox/; with a real key (sk_live_/sk_test_ from the dashboard) it talks
to Stripe itself. Every call that creates something carries an idempotency key, so a
retried request never makes two sessions, prices or coupons.
"""
from __future__ import annotations

import functools
import os

import psycopg
import stripe

from app.db import plans
from app.services.orders import OrderConflict, PlacedOrder
from app.settings import LOCAL_STRIPE_KEY_PREFIX, Settings

LOCAL_KEY_PREFIX = LOCAL_STRIPE_KEY_PREFIX


class PaymentServiceError(Exception):
    """Stripe refused or could not be reached; the message is safe to show."""


def uses_sandbox(settings: Settings) -> bool:
    return bool(settings.STRIPE_API_BASE) and (
        settings.STRIPE_SECRET_KEY.startswith(LOCAL_KEY_PREFIX) or bool(os.environ.get("STRIPE_API_BASE")))


@functools.lru_cache(maxsize=4)
def _client(api_key: str, api_base: str | None) -> stripe.StripeClient:
    kwargs = {"base_addresses": {"api": api_base}} if api_base else {}
    return stripe.StripeClient(api_key, max_network_retries=2, **kwargs)


def client(settings: Settings) -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise PaymentServiceError("STRIPE_SECRET_KEY is not set")
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE if uses_sandbox(settings) else None)


def price_for(conn: psycopg.Connection, settings: Settings, plan: dict, cycle: str) -> str:
    """The Stripe price of a plan and billing cycle, created once (lookup key mpanel:<slug>:<cycle>)."""
    column = "stripe_price_yearly" if cycle == "yearly" else "stripe_price_monthly"
    if plan.get(column):
        return plan[column]
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
    plans.set_stripe_price(conn, plan["id"], cycle, price_id)
    return price_id


def coupon_for(conn: psycopg.Connection, settings: Settings, promo: dict, currency: str) -> str:
    if promo.get("stripe_coupon_id"):
        return promo["stripe_coupon_id"]
    params = {"duration": "forever", "name": promo["code"], "metadata": {"promo_code": promo["code"]}}
    if promo["percent_off"]:
        params["percent_off"] = promo["percent_off"]
    else:
        params.update(amount_off=promo["amount_off_cents"], currency=currency)
    coupon_id = client(settings).v1.coupons.create(
        params=params, options={"idempotency_key": f"mpanel-coupon-{promo['code']}"}).id
    plans.set_stripe_coupon(conn, promo["id"], coupon_id)
    return coupon_id


def plan_for_price(conn: psycopg.Connection, price_id: str) -> dict | None:
    return plans.by_stripe_price(conn, price_id)


def create_checkout_session(conn: psycopg.Connection, settings: Settings, placed: PlacedOrder, email: str,
                            cycle: str) -> stripe.checkout.Session:
    try:
        return _create_checkout_session(conn, settings, placed, email, cycle)
    except stripe.StripeError as exc:
        raise PaymentServiceError(f"the payment service refused the checkout: {exc.user_message or exc}") from exc


def _create_checkout_session(conn, settings, placed: PlacedOrder, email: str, cycle: str):
    params = {
        "mode": "subscription",
        "line_items": [{"price": price_for(conn, settings, placed.plan, cycle), "quantity": 1}],
        "success_url": f"{settings.APP_URL}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{settings.MARKETING_SITE_URL}/checkout?canceled=1",
        "customer_email": email,
        "client_reference_id": str(placed.subscription_id),
        "metadata": {"subscription_id": str(placed.subscription_id)},
        "subscription_data": {"metadata": {"subscription_id": str(placed.subscription_id)}},
    }
    if placed.promo:
        params["discounts"] = [{"coupon": coupon_for(conn, settings, placed.promo, placed.plan["currency"])}]
    return client(settings).v1.checkout.sessions.create(
        params=params, options={"idempotency_key": f"mpanel-checkout-{placed.subscription_id}"})


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


def retrieve_session(settings: Settings, session_id: str) -> stripe.checkout.Session:
    return client(settings).v1.checkout.sessions.retrieve(session_id)
