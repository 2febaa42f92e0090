"""The checkout service behind POST /api/marketing/checkout-intent and the status reads.

No database connection is held while Stripe is called (a slow Stripe must not starve the
pool or hold row locks), so a checkout is three short steps:

1. write the order (all its rows or none) and commit;
2. open the Stripe Checkout Session, no connection held; its idempotency key is the order's,
   so a retried call returns the same session;
3. record the session id on the order, only if the order still waits for it.

If Stripe refuses in step 2, the order written in step 1 is removed again (the answer is an
error, so nothing of it stays). If the process dies between steps 1 and 3, the order is left
without a session: nobody was given a checkout address for it (the answer is sent only after
step 3), so nobody can pay it, and `abandon_interrupted_checkouts` (hourly) abandons it and
frees its domain; the customer who retries meanwhile starts over on the same account.

A customer coming back (same email and password) is one of two kinds:
- one who left a checkout unpaid starts over: the earlier Stripe sessions are closed first
  (Stripe decides the race: one paid meanwhile keeps its order and this checkout is refused),
  then the earlier orders are abandoned and the new one placed;
- one whose order for this very domain was canceled but is still retained (suspended, backed
  up, not yet destroyed) takes that order back: a new Stripe session attached to it
  (`lifecycle.take_back_retained_order`), under its own idempotency key
  (`mpanel-checkout-<id>-<n>`). Its payment is checked against the order's plan and promotion
  like a first payment, and brings back the same account with its files and mail. The order
  keeps the terms it was sold at: another plan, cycle or promotion code is refused (409).
  Anyone else ordering a retained domain is told it is hosted here (409): the data in that
  account belongs to the former customer.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from app import db
from app.db.customers import customers
from app.db.hosting import subscriptions
from app.db.orders import orders as order_rows
from app.db.orders import plans
from app.jobs.defer import request_converge
from app.services.orders import checkout_limits, lifecycle
from app.services.orders.billing import (CheckoutTerms, OpenedCheckout, PaymentServiceError,
                                         close_checkout_session, open_checkout, retrieve_session)
from app.services.orders.lifecycle_rules import stripe_value
from app.services.orders.eligibility import check_domain
from app.services.orders.orders import (Order, OrderConflict, ReturningCustomer, abandon_order, find_promo,
                                        place_order, returning_customer)
from app.settings import Settings
from app.services.orders.validation import ValidationError, parse_checkout, parse_site
from providers.rules.names import to_ascii, to_unicode

# An order whose checkout died between writing it and recording its Stripe session is
# abandoned after this long (a live request takes seconds; Stripe's own retries about 4 min).
INTERRUPTED_CHECKOUT_MINUTES = 15


def start_checkout(settings: Settings, payload: Any, address: str | None = None) -> dict:
    """Validate, write the order, open a Stripe Checkout Session; an error leaves nothing written.

    Whether the domain may be ordered at all (app/services/orders/eligibility.py) is decided after
    the earlier unpaid orders are let go (the customer's own abandoned order does not stand in
    the way) and before anything of the new order is written; the order is placed under the
    name's A-label. Intents are counted per email and per client `address` first
    (app/services/orders/checkout_limits.py).
    """
    order = parse_checkout(payload)
    checkout_limits.admit(settings, order.email, address)
    override = (settings.MARKETING_OVERRIDE_CODE or "").upper()
    free = bool(settings.MARKETING_TEST_MODE and order.test_mode and override and order.promo_code == override)
    with db.transaction(settings.DATABASE_URL) as conn:
        bad_promo = bool(order.promo_code and not free and not find_promo(conn, order.promo_code))
        try:
            returning = returning_customer(conn, order, _a_label(order.domain))
        except OrderConflict:
            if bad_promo:  # the payload's own fault is named first
                raise ValidationError("promoCode", "is not a valid promotion code") from None
            raise
        if bad_promo and not (returning and returning.retained):  # a take-back keeps its own terms
            raise ValidationError("promoCode", "is not a valid promotion code")
    if returning and returning.retained:
        return _take_back(settings, order, returning)
    return _new_order(settings, order, free, returning)


def add_site(settings: Settings, user_id: int, form: dict) -> dict:
    """The panel's Add a site: a signed-in customer orders another site (plan, cycle, domain and
    mode from `form`). The same order a checkout with their email and password places (their
    password was checked at login), paid through a Stripe Checkout on their Stripe customer."""
    site = parse_site(form)
    with db.transaction(settings.DATABASE_URL) as conn:
        who = customers.profile(conn, user_id)
    order = Order(email=who["email"], first_name=who["first_name"], last_name=who["last_name"], password="",
                  plan_slug=site.plan_slug, billing_cycle=site.billing_cycle, domain=site.domain,
                  domain_mode=site.domain_mode, auth_code=site.auth_code)
    with db.transaction(settings.DATABASE_URL) as conn:
        returning = returning_customer(conn, order, _a_label(order.domain), verified_user=user_id)
    if returning.retained:
        return _take_back(settings, order, returning)
    return _new_order(settings, order, False, returning, keep_details=True)


def _a_label(domain: str) -> str | None:
    try:
        return to_ascii(domain)
    except ValueError:
        return None  # refused with its reason by check_domain


# --- a new order ------------------------------------------------------------------------------

def _new_order(settings: Settings, order: Order, free: bool, returning: ReturningCustomer | None,
               keep_details: bool = False) -> dict:
    # The earlier unpaid checkouts are closed first, while nothing of the new order exists:
    # if one was paid meanwhile, Stripe says so and this checkout is refused with nothing written.
    closed = set()
    for unpaid in returning.unpaid if returning else []:
        if unpaid["stripe_checkout_session_id"]:
            close_checkout_session(settings, unpaid["stripe_checkout_session_id"])
            closed.add(unpaid["stripe_checkout_session_id"])

    with db.transaction(settings.DATABASE_URL) as conn:
        if order.promo_code and not free and not find_promo(conn, order.promo_code):
            raise ValidationError("promoCode", "is not a valid promotion code")
        again = returning_customer(conn, order, verified_user=returning.user_id if returning else None)
        earlier = again.unpaid if again else []
        if any(u["stripe_checkout_session_id"] not in closed | {None} for u in earlier):
            raise OrderConflict("customer.email", "another checkout for this email was started at the same "
                                                  "moment: try again")
        for unpaid in earlier:
            abandon_order(conn, unpaid["id"])
        order = replace(order, domain=check_domain(conn, settings, order))
        placed = place_order(conn, settings, order, free=free, returning=again, keep_details=keep_details)
        result = {"subscriptionId": placed.subscription_id, "plan": placed.plan["slug"],
                  "billingCycle": order.billing_cycle, "amountCents": placed.amount_cents,
                  "domain": order.domain, "domainUnicode": to_unicode(order.domain),
                  "testMode": order.test_mode}
        if free:
            # The seed's $0 test checkout: no Stripe at all, paid by definition.
            subscriptions.set_status(conn, placed.subscription_id, "active")
            if settings.MARKETING_AUTO_PROVISION:
                request_converge(conn, placed.subscription_id)
            return {**result, "status": "active", "checkoutUrl": None, "checkoutSessionId": None}

    terms = CheckoutTerms(placed.subscription_id, order.email, placed.plan, order.billing_cycle, placed.promo,
                          stripe_customer=again.stripe_customer if again else None)
    try:
        opened = open_checkout(settings, terms)
    except PaymentServiceError:
        with db.transaction(settings.DATABASE_URL) as conn:
            order_rows.withdraw(conn, placed.subscription_id, None if again else placed.user_id)
        raise
    with db.transaction(settings.DATABASE_URL) as conn:
        _record_catalogue(conn, terms, opened)
        recorded = order_rows.record_checkout_session(conn, placed.subscription_id, opened.session.id)
    if not recorded:  # abandoned meanwhile (a newer checkout for this email): this session must not be paid
        close_checkout_session(settings, opened.session.id)
        raise OrderConflict("customer.email", "a newer checkout for this email replaced this one")
    return {**result, "status": "pending_payment", "checkoutUrl": opened.session.url,
            "checkoutSessionId": opened.session.id}


def _record_catalogue(conn, terms: CheckoutTerms, opened: OpenedCheckout) -> None:
    """Keep the Stripe price and coupon found or made for this checkout, for the next one."""
    column = "stripe_price_yearly" if terms.cycle == "yearly" else "stripe_price_monthly"
    if not terms.plan.get(column):
        plans.set_stripe_price(conn, terms.plan["id"], terms.cycle, opened.price_id)
    if terms.promo and opened.coupon_id and not terms.promo.get("stripe_coupon_id"):
        plans.set_stripe_coupon(conn, terms.promo["id"], opened.coupon_id)


# --- taking back a canceled, retained order ---------------------------------------------------

def _take_back(settings: Settings, order: Order, returning: ReturningCustomer) -> dict:
    domain = _a_label(order.domain)
    with db.transaction(settings.DATABASE_URL) as conn:
        sub = subscriptions.retained_order(conn, returning.customer_id, domain)
        if sub is None:  # terminated between the two transactions
            raise OrderConflict("domain", f"{domain} is no longer kept: check out again in a minute")
        plan = plans.by_id(conn, sub["plan_id"])
        _same_terms(order, sub, plan)
        promo = plans.promo_by_code(conn, sub["promo_code"]) if sub["promo_code"] else None
        attempt = order_rows.start_take_back(conn, sub["id"])
        previous = sub["stripe_checkout_session_id"]
    # An earlier attempt to take it back, still open, is closed first (one paid meanwhile: 409).
    if previous and attempt > 1 and _is_take_back(settings, previous):
        close_checkout_session(settings, previous)
    terms = CheckoutTerms(sub["id"], order.email, dict(plan), sub["billing_cycle"], promo and dict(promo), attempt)
    opened = open_checkout(settings, terms)
    with db.transaction(settings.DATABASE_URL) as conn:
        _record_catalogue(conn, terms, opened)
        latest = order_rows.take_backs(conn, sub["id"]) == attempt
        taken = latest and lifecycle.take_back_retained_order(conn, returning.customer_id, domain, opened.session.id)
    if not taken:  # a newer attempt, or terminated meanwhile: this session must not be paid
        close_checkout_session(settings, opened.session.id)
        raise OrderConflict("domain", f"a newer checkout for {domain} replaced this one" if not latest
                            else f"{domain} is no longer kept")
    return {"subscriptionId": sub["id"], "plan": plan["slug"], "billingCycle": sub["billing_cycle"],
            "amountCents": sub["amount_cents"], "domain": domain, "domainUnicode": to_unicode(domain),
            "testMode": order.test_mode, "status": sub["status"], "takeBack": True,
            "checkoutUrl": opened.session.url, "checkoutSessionId": opened.session.id}


def _same_terms(order: Order, sub: dict, plan: dict) -> None:
    """A retained order is taken back as it was sold: the plan can be changed once it is back."""
    if order.plan_slug != plan["slug"]:
        raise OrderConflict("planSlug", f"your order for this domain was on the {plan['slug']} plan: check out "
                                        f"with it to take the order back, and change plans once it is back")
    if order.billing_cycle != sub["billing_cycle"]:
        raise OrderConflict("billingCycle", f"your order for this domain was billed {sub['billing_cycle']}: "
                                            f"check out with that cycle to take the order back")
    if order.promo_code and order.promo_code.upper() != (sub["promo_code"] or "").upper():
        raise OrderConflict("promoCode", "an order taken back keeps the promotion code it was sold with")


def _is_take_back(settings: Settings, session_id: str) -> bool:
    """Whether the order's stored session is one of its take-back checkouts (not its first,
    long paid, checkout, which must not be mistaken for a payment just made)."""
    # A Stripe object is not a dict (stripe-python 13+): read it through stripe_value.
    return bool(stripe_value(retrieve_session(settings, session_id), "metadata", "take_back"))


# --- the sweep for checkouts that died half-way -----------------------------------------------

def abandon_interrupted_checkouts(settings: Settings) -> int:
    """Abandon orders written by a checkout that died before recording its Stripe session."""
    with db.transaction(settings.DATABASE_URL) as conn:
        return len(order_rows.abandon_sessionless(conn, INTERRUPTED_CHECKOUT_MINUTES))


# --- status ----------------------------------------------------------------------------------

def provisioning_status(settings: Settings, *, subscription_id: int | None = None,
                        session_id: str | None = None) -> dict | None:
    """What the marketing site (by id, with its API key) or the customer (by session id) sees."""
    with db.transaction(settings.DATABASE_URL) as conn:
        sub = subscriptions.progress(conn, subscription_id=subscription_id, session_id=session_id)
        if sub is None:
            return None
        steps = subscriptions.latest_run_steps(conn, sub["id"])
    return {
        "subscriptionId": sub["id"], "status": sub["status"], "provisioningStatus": sub["provisioning_status"],
        "error": sub["provisioning_error"], "domain": sub["domain"], "domainMode": sub["domain_mode"],
        "domainStatus": sub["domain_status"], "websiteStatus": sub["website_status"],
        "cpanelUrl": sub["cpanel_url"],
        "certificateExpires": sub["ssl_expires_at"].isoformat() if sub["ssl_expires_at"] else None,
        "steps": [{"resource": s["resource_name"], "kind": s["resource_type"], "op": s["op"], "status": s["status"],
                   "at": s["at"].isoformat(), "durationMs": s["duration_ms"]}
                  for s in sorted(steps, key=lambda s: s["at"])],
    }
