"""The customer's billing in the panel: invoices and the card on file from Stripe, the Stripe
Customer Portal, and plan changes with proration.

Stripe is the record of what was billed: the page reads it live (nothing is copied here). A
plan change is asked of Stripe only (the subscription item's price, prorated and invoiced at
once); the desired state follows when Stripe confirms it: `customer.subscription.updated` is
processed like every other billing event (app/services/orders/lifecycle.py: the plan is read from the
subscription's price, the converge changes the WHM package and quota in place). Mailboxes
beyond a smaller plan's allowance are kept; new ones are refused until under it
(app/services/hosting/mailboxes.py).
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import stripe

from app import db
from app.db.orders import customer_billing as rows
from app.db.orders import plans as catalogue
from app.services.common.refusals import Refused
from app.services.customers.sites import site_of
from app.services.orders import billing
from app.services.orders.lifecycle_rules import stripe_value
from app.settings import Settings

# Proration is computed at the instant the preview fixed; a confirmation much later would bill
# a figure the customer did not see, so it has to be previewed again.
PREVIEW_VALID_SECONDS = 30 * 60
LIVE = ("active", "past_due")


class BillingRefused(Refused):
    """Why the request was not done (shown to the customer), the field it concerns, and the status."""

    def __init__(self, status: int, field: str, message: str):
        super().__init__(field, message, status=status)


@dataclass(frozen=True)
class PlanChangePreview:
    plan: dict                   # the plan moved to
    amount_due_cents: int        # charged now (0 for a downgrade: the credit goes to the balance)
    total_cents: int             # negative for a downgrade: credited to the next invoices
    currency: str
    lines: list[tuple[str, int]]  # (description, amount) of the proration
    proration_date: int          # the instant the confirmation must bill at
    mailboxes_over: int          # mailboxes beyond the new plan's allowance (kept, none added)


def money(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(currency.lower(), "")
    return f"{sign}{symbol}{abs(cents) / 100:,.2f}{'' if symbol else ' ' + currency.upper()}"


def plans_on_sale(settings: Settings) -> list[dict]:
    """The plans a customer may add a site on, cheapest first (the panel's Add a site)."""
    with db.transaction(settings.DATABASE_URL) as conn:
        return rows.catalogue(conn)


def _site(settings: Settings, user_id: int, subscription_id: int) -> tuple[dict, list[dict]]:
    with db.transaction(settings.DATABASE_URL) as conn:
        site_of(conn, user_id, subscription_id)
        site = rows.billing_site(conn, subscription_id)
        plans = rows.catalogue(conn)
    return site, plans


def _stripe_error(exc: stripe.StripeError) -> BillingRefused:
    return BillingRefused(502, "billing", f"the payment service could not be reached: "
                                          f"{exc.user_message or 'try again in a minute'}")


def billing_overview(settings: Settings, user_id: int, subscription_id: int) -> dict:
    """What the billing page shows: the site and its plan, the other plans, and from Stripe the
    customer's invoices and the card on file (`stripe_error` when Stripe could not be read)."""
    site, plans = _site(settings, user_id, subscription_id)
    page = {"site": site, "plans": [p for p in plans if p["id"] != site["plan_id"]], "invoices": [],
            "card": None, "stripe_error": None, "billed": bool(site["stripe_subscription_id"])}
    if not page["billed"]:
        return page
    client = billing.client(settings)
    try:
        invoices = client.v1.invoices.list(params={"customer": site["stripe_customer_id"], "limit": 24}).data
        remote = client.v1.subscriptions.retrieve(site["stripe_subscription_id"],
                                                  params={"expand": ["default_payment_method"]})
    except stripe.StripeError as exc:
        page["stripe_error"] = _stripe_error(exc).message
        return page
    page["invoices"] = [{
        "number": i.number, "date": dt.datetime.fromtimestamp(i.created, dt.timezone.utc).date(),
        "amount": money(i.total, i.currency), "status": i.status, "url": i.hosted_invoice_url,
    } for i in invoices]
    method = remote.default_payment_method
    if method is not None and getattr(method, "card", None) is not None:
        card = method.card
        page["card"] = f"{card.brand.title()} ending {card.last4}, expires {card.exp_month:02d}/{card.exp_year}"
    return page


def portal_url(settings: Settings, user_id: int, subscription_id: int) -> str:
    """A fresh Stripe Customer Portal session for the site's Stripe customer (payment method,
    cancellation at period end), returning to the billing page."""
    site, _ = _site(settings, user_id, subscription_id)
    if not site["stripe_customer_id"]:
        raise BillingRefused(409, "site", "this subscription is not billed through Stripe")
    try:
        session = billing.client(settings).v1.billing_portal.sessions.create(params={
            "customer": site["stripe_customer_id"],
            "return_url": f"{settings.APP_URL}/sites/{subscription_id}/billing"})
    except stripe.StripeError as exc:
        raise _stripe_error(exc) from exc
    return session.url


def _target(settings: Settings, site: dict, plans: list[dict], slug: str | None) -> tuple[dict, str]:
    """The plan moved to and its Stripe price for the site's billing cycle, or BillingRefused."""
    if not site["stripe_subscription_id"]:
        raise BillingRefused(409, "plan", "this subscription is not billed through Stripe: plans change "
                                          "only on paid subscriptions")
    if site["status"] not in LIVE or site["cancel_at_period_end"]:
        raise BillingRefused(409, "plan", "only a running subscription changes plan (not one suspended, "
                                          "canceled or ending at the period end)")
    plan = next((p for p in plans if p["slug"] == (slug or "").strip()), None)
    if plan is None:
        raise BillingRefused(422, "plan", "choose one of the plans offered")
    if plan["id"] == site["plan_id"]:
        raise BillingRefused(422, "plan", f"you are already on {plan['name']}")
    try:
        price_id = billing.stripe_price(settings, plan, site["billing_cycle"])
    except stripe.StripeError as exc:
        raise _stripe_error(exc) from exc
    if not plan.get(_price_column(site["billing_cycle"])):
        with db.transaction(settings.DATABASE_URL) as conn:
            catalogue.set_stripe_price(conn, plan["id"], site["billing_cycle"], price_id)
    return plan, price_id


def _price_column(cycle: str) -> str:
    return "stripe_price_yearly" if cycle == "yearly" else "stripe_price_monthly"


def _item(client: stripe.StripeClient, site: dict) -> str:
    return client.v1.subscriptions.retrieve(site["stripe_subscription_id"])["items"].data[0].id


def preview_plan_change(settings: Settings, user_id: int, subscription_id: int, slug: str | None) -> PlanChangePreview:
    """What moving to plan `slug` bills now (Stripe's invoice preview of the item update,
    prorated to this instant and invoiced at once)."""
    site, plans = _site(settings, user_id, subscription_id)
    plan, price_id = _target(settings, site, plans, slug)
    client = billing.client(settings)
    try:
        preview = client.v1.invoices.create_preview(params={
            "customer": site["stripe_customer_id"], "subscription": site["stripe_subscription_id"],
            "subscription_details": {"items": [{"id": _item(client, site), "price": price_id}],
                                     "proration_behavior": "always_invoice"}})
    except stripe.StripeError as exc:
        raise _stripe_error(exc) from exc
    lines = [(line.description, line.amount) for line in preview.lines.data
             if line.parent and line.parent.subscription_item_details
             and line.parent.subscription_item_details.proration]
    # Since API 2025-03-31 the instant the preview prorated at is on its parent only.
    when = stripe_value(preview, "parent", "subscription_details", "subscription_proration_date")
    if not when:
        raise BillingRefused(502, "billing", "the payment service's preview did not say when it prorated: "
                                             "try again in a minute")
    return PlanChangePreview(plan=plan, amount_due_cents=preview.amount_due, total_cents=preview.total,
                             currency=preview.currency, lines=lines,
                             proration_date=when,
                             mailboxes_over=max(0, site["mailboxes_used"] - plan["mailbox_count"]))


def change_plan(settings: Settings, user_id: int, subscription_id: int, slug: str | None,
                proration_date: str | None) -> dict:
    """Ask Stripe to move the subscription to plan `slug`, prorated at the previewed instant and
    invoiced at once. Nothing changes here: the webhook that confirms it changes the plan."""
    site, plans = _site(settings, user_id, subscription_id)
    plan, price_id = _target(settings, site, plans, slug)
    when = _proration_date(proration_date)
    client = billing.client(settings)
    try:
        client.v1.subscriptions.update(site["stripe_subscription_id"], params={
            "items": [{"id": _item(client, site), "price": price_id}],
            "proration_behavior": "always_invoice", "proration_date": when,
            "payment_behavior": "error_if_incomplete"},
            options={"idempotency_key": f"mpanel-plan-{subscription_id}-{plan['slug']}-{when}"})
    except stripe.CardError as exc:
        raise BillingRefused(402, "plan", f"your card was declined ({exc.user_message or exc.code}): "
                                          "update it with Manage billing and try again") from exc
    except stripe.StripeError as exc:
        raise _stripe_error(exc) from exc
    return plan


def _proration_date(value: str | None) -> int:
    try:
        when = int(value or "")
    except ValueError:
        raise BillingRefused(422, "proration_date", "preview the change first") from None
    now = int(time.time())
    if not now - PREVIEW_VALID_SECONDS <= when <= now + 60:
        raise BillingRefused(422, "proration_date", "the preview is too old: preview the change again")
    return when
