"""Placing an order: the rows the seed's checkout-intent creates, all in one transaction.

users (argon2 hash), customers, subscriptions (pending_payment), domains (pending).
Nothing here talks to Stripe or provisions anything; a placed order only becomes
hosting when its payment is confirmed (app/services/orders/lifecycle.py) and the worker converges it.

An order never paid is abandoned (its Stripe session expired, or the customer started
over): its domain is released, and the same email may check out again with the
password it chose the first time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import psycopg

from app.db.customers import customers
from app.db.hosting import subscriptions
from app.db.orders import orders, plans
from app.services.common.crypto import encrypt
from app.services.common.passwords import hash_password, password_matches
from app.services.common.refusals import Refused
from app.settings import Settings


class OrderConflict(Refused):
    """The email already has an account, or the domain is already hosted here."""

    status, code = 409, "conflict"


class UnknownPlan(Refused):
    code = "unknown_plan"

    def __init__(self, slug: str):
        super().__init__("planSlug", f"there is no plan '{slug}'")
        self.slug = slug


@dataclass(frozen=True)
class Order:
    email: str
    first_name: str
    last_name: str
    password: str = field(repr=False)
    plan_slug: str
    billing_cycle: str
    domain: str
    domain_mode: str
    auth_code: str | None = field(default=None, repr=False)
    promo_code: str | None = None
    test_mode: bool = False
    company: str | None = None
    phone: str | None = None
    country: str | None = None
    utm: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PlacedOrder:
    subscription_id: int
    customer_id: int
    user_id: int
    domain_id: int
    plan: dict
    amount_cents: int
    promo: dict | None


@dataclass(frozen=True)
class ReturningCustomer:
    """Someone who checked out before with this email and password: one who never paid, a
    customer buying another site, or one whose order for the domain they check out again is
    canceled but still retained (`retained`)."""

    user_id: int
    customer_id: int
    unpaid: list[dict]  # their orders still waiting for payment (id, stripe_checkout_session_id)
    retained: dict | None = None  # their canceled, still retained order for this domain (locked)
    stripe_customer: str | None = None  # the Stripe customer their paid orders are billed to (saved card)


EMAIL_TAKEN = "an account with this email already exists: log in to add a site"


def returning_customer(conn: psycopg.Connection, order: Order, domain: str | None = None, *,
                       verified_user: int | None = None) -> ReturningCustomer | None:
    """None for an email we have never seen. A known email with its account's password is the
    same customer: one whose orders were all left unpaid starts again, one with paid sites adds
    another (billed to the same Stripe customer), and one whose order for `domain` (the A-label
    being ordered) was canceled and is still retained takes that order back. A wrong password
    (or a disabled account) is a conflict whose message says no more than that the email is
    known. `verified_user`: the user whose password this request has already checked (the
    checkout's second transaction, or the signed-in customer of the panel's Add a site)."""
    user = customers.lock_user_by_email(conn, order.email)
    if user is None:
        return None
    placed = customers.lock_subscriptions(conn, user["customer_id"])
    # Always checked (the same time either way), unless this request already checked it for this user.
    password_ok = verified_user == user["id"] or password_matches(user["password_hash"], order.password)
    retained = subscriptions.retained_order(conn, user["customer_id"], domain) if domain else None
    others = [o for o in placed if retained is None or o["id"] != retained["id"]]
    if not (password_ok and user["status"] == "active"):
        raise OrderConflict("customer.email", EMAIL_TAKEN)
    billed_to = [o["stripe_customer_id"] for o in placed if o["stripe_customer_id"]]
    return ReturningCustomer(user["id"], user["customer_id"],
                             [o for o in others if o["status"] == "pending_payment"], retained,
                             billed_to[-1] if billed_to else None)


def abandon_order(conn: psycopg.Connection, subscription_id: int) -> bool:
    """An order that was never paid is given up: nothing was built, so nothing is destroyed;
    its domain may be ordered again. False when the order is not waiting for payment."""
    return subscriptions.abandon_unpaid(conn, subscription_id)


def find_promo(conn: psycopg.Connection, code: str | None) -> dict | None:
    return plans.usable_promo(conn, code) if code else None


def percent_off_amount(amount_cents: int, percent_off: float) -> int:
    """What a percent-off coupon takes off an amount, as Stripe computes it: the discount is
    computed on the amount and rounded to the minor unit (half up), and the total is the amount
    less that discount -- never the discounted total rounded (50% off 1999 takes 1000, leaving
    999). The Stripe stand-in applies the same rule (sandbox/stripe/billing/discounts.py;
    tests/unit/test_discount_rounding.py holds both to it)."""
    exact = Decimal(amount_cents) * Decimal(str(percent_off)) / 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def price_after_promo(price_cents: int, promo: dict | None) -> int:
    if not promo:
        return price_cents
    if promo["percent_off"]:
        return max(0, price_cents - percent_off_amount(price_cents, promo["percent_off"]))
    return max(0, price_cents - promo["amount_off_cents"])


def domain_conflict(domain: str, holder_status: str | None) -> OrderConflict | None:
    """Why `domain` cannot be ordered while a subscription in `holder_status` holds it (None: it can)."""
    if holder_status is None:
        return None
    return OrderConflict("domain", f"{domain} has an order waiting for payment"
                         if holder_status == "pending_payment" else f"{domain} is already hosted here")


def place_order(conn: psycopg.Connection, settings: Settings, order: Order, *, free: bool = False,
                returning: ReturningCustomer | None = None, keep_details: bool = False) -> PlacedOrder:
    """Write the order; the caller owns the transaction (all rows or none). `conn` uses dict rows.
    A `returning` customer's earlier unpaid orders must be abandoned first (app/services/orders/checkout.py)."""
    plan = plans.active_by_slug(conn, order.plan_slug)
    if plan is None:
        raise UnknownPlan(order.plan_slug)
    if returning is None and customers.email_taken(conn, order.email):
        raise OrderConflict("customer.email", EMAIL_TAKEN)
    conflict = domain_conflict(order.domain, orders.domain_holder_status(conn, order.domain))
    if conflict:
        raise conflict
    promo = find_promo(conn, order.promo_code)
    price = plan["price_yearly_cents"] if order.billing_cycle == "yearly" else plan["price_monthly_cents"]
    amount = 0 if free else price_after_promo(price, promo)

    try:
        ids = _insert(conn, settings, order, plan, amount, returning, keep_details)
    except psycopg.errors.UniqueViolation as exc:  # a concurrent order won the race
        if exc.diag.constraint_name == "users_email_key":
            raise OrderConflict("customer.email", "an account with this email already exists") from exc
        raise OrderConflict("domain", f"{order.domain} is already hosted here") from exc
    return PlacedOrder(*ids, dict(plan), amount, promo)


def _insert(conn: psycopg.Connection, settings: Settings, order: Order, plan: dict, amount: int,
            returning: ReturningCustomer | None, keep_details: bool = False):
    details = dict(first_name=order.first_name, last_name=order.last_name, company=order.company,
                   phone=order.phone, country=order.country)
    if returning:  # the latest checkout's details win: it is the same person (password checked)
        user_id, customer_id = returning.user_id, returning.customer_id
        if not keep_details:  # the panel's Add a site has no details of its own: they stay
            customers.update_details(conn, customer_id, details)
    else:
        user_id = customers.insert_user(conn, order.email, hash_password(order.password))
        customer_id = customers.insert_customer(conn, user_id, details)
    subscription_id = orders.insert_subscription(
        conn, customer_id=customer_id, plan_id=plan["id"], billing_cycle=order.billing_cycle,
        promo_code=order.promo_code, amount_cents=amount, test_mode=order.test_mode, utm=order.utm)
    domain_id = orders.insert_domain(
        conn, subscription_id=subscription_id, customer_id=customer_id, name=order.domain, mode=order.domain_mode,
        auth_code_encrypted=encrypt(settings, order.auth_code) if order.auth_code else None)
    return subscription_id, customer_id, user_id, domain_id
