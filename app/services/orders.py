"""Placing an order: the rows the seed's checkout-intent creates, all in one transaction.

users (argon2 hash), customers, subscriptions (pending_payment), domains (pending).
Nothing here talks to Stripe or provisions anything; a placed order only becomes
hosting when its payment is confirmed (app/lifecycle.py) and the worker converges it.

An order never paid is abandoned (its Stripe session expired, or the customer started
over): its domain is released, and the same email may check out again with the
password it chose the first time.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from app.services.crypto import encrypt
from app.services.passwords import hash_password, password_matches
from app.settings import Settings



class OrderConflict(Exception):
    """The email already has an account, or the domain is already hosted here."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class UnknownPlan(Exception):
    def __init__(self, slug: str):
        super().__init__(f"there is no plan '{slug}'")
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
    """Someone who checked out before with this email and password and never paid."""

    user_id: int
    customer_id: int
    unpaid: list[dict]  # their orders still waiting for payment (id, stripe_checkout_session_id)


def returning_customer(conn: psycopg.Connection, order: Order) -> ReturningCustomer | None:
    """None for an email we have never seen. An email whose orders were all left unpaid may
    start again with the password it chose; any other known email is a conflict (an
    existing customer logs in)."""
    user = conn.execute("SELECT u.id, u.password_hash, u.status, c.id AS customer_id FROM users u "
                        "JOIN customers c ON c.user_id = u.id WHERE lower(u.email) = lower(%s) FOR UPDATE OF u",
                        (order.email,)).fetchone()
    if user is None:
        return None
    orders = conn.execute("SELECT id, status, stripe_checkout_session_id FROM subscriptions "
                          "WHERE customer_id = %s ORDER BY id FOR UPDATE", (user["customer_id"],)).fetchall()
    password_ok = password_matches(user["password_hash"], order.password)  # always: same time either way
    never_paid = all(o["status"] in ("pending_payment", "abandoned") for o in orders)
    if not (password_ok and never_paid and user["status"] == "active"):
        raise OrderConflict("customer.email", "an account with this email already exists: log in to add a site")
    return ReturningCustomer(user["id"], user["customer_id"],
                             [o for o in orders if o["status"] == "pending_payment"])


def abandon_order(conn: psycopg.Connection, subscription_id: int) -> bool:
    """An order that was never paid is given up: nothing was built, so nothing is destroyed;
    its domain may be ordered again. False when the order is not waiting for payment."""
    if conn.execute("UPDATE subscriptions SET status = 'abandoned', updated_at = now() "
                    "WHERE id = %s AND status = 'pending_payment' RETURNING id", (subscription_id,)).fetchone() is None:
        return False
    conn.execute("UPDATE domains SET status = 'released', updated_at = now() "
                 "WHERE subscription_id = %s AND status = 'pending'", (subscription_id,))
    return True


def find_promo(conn: psycopg.Connection, code: str | None) -> dict | None:
    if not code:
        return None
    return conn.execute("SELECT * FROM promo_codes WHERE upper(code) = upper(%s) AND active "
                        "AND (expires_at IS NULL OR expires_at > now())", (code,)).fetchone()


def price_after_promo(price_cents: int, promo: dict | None) -> int:
    if not promo:
        return price_cents
    if promo["percent_off"]:
        return max(0, round(price_cents * (100 - promo["percent_off"]) / 100))
    return max(0, price_cents - promo["amount_off_cents"])


def place_order(conn: psycopg.Connection, settings: Settings, order: Order, *, free: bool = False,
                returning: ReturningCustomer | None = None) -> PlacedOrder:
    """Write the order; the caller owns the transaction (all rows or none). `conn` uses dict rows.
    A `returning` customer's earlier unpaid orders must be abandoned first (app/checkout.py)."""
    plan = conn.execute("SELECT * FROM plans WHERE slug = %s AND active", (order.plan_slug,)).fetchone()
    if plan is None:
        raise UnknownPlan(order.plan_slug)
    if returning is None and conn.execute("SELECT 1 FROM users WHERE lower(email) = lower(%s)",
                                          (order.email,)).fetchone():
        raise OrderConflict("customer.email", "an account with this email already exists: log in to add a site")
    taken = conn.execute("SELECT s.status FROM domains d JOIN subscriptions s ON s.id = d.subscription_id "
                         "WHERE d.name = %s AND d.status <> 'released'", (order.domain,)).fetchone()
    if taken:
        raise OrderConflict("domain", f"{order.domain} has an order waiting for payment"
                            if taken["status"] == "pending_payment" else f"{order.domain} is already hosted here")
    promo = find_promo(conn, order.promo_code)
    price = plan["price_yearly_cents"] if order.billing_cycle == "yearly" else plan["price_monthly_cents"]
    amount = 0 if free else price_after_promo(price, promo)

    try:
        ids = _insert(conn, settings, order, plan, amount, returning)
    except psycopg.errors.UniqueViolation as exc:  # a concurrent order won the race
        if exc.diag.constraint_name == "users_email_key":
            raise OrderConflict("customer.email", "an account with this email already exists") from exc
        raise OrderConflict("domain", f"{order.domain} is already hosted here") from exc
    return PlacedOrder(*ids, dict(plan), amount, promo)


def _insert(conn: psycopg.Connection, settings: Settings, order: Order, plan: dict, amount: int,
            returning: ReturningCustomer | None):
    details = (order.first_name, order.last_name, order.company, order.phone, order.country)
    if returning:  # the latest checkout's details win: it is the same person (password checked)
        user_id, customer_id = returning.user_id, returning.customer_id
        conn.execute("UPDATE customers SET first_name = %s, last_name = %s, company = %s, phone = %s, country = %s "
                     "WHERE id = %s", (*details, customer_id))
    else:
        user_id = conn.execute("INSERT INTO users (email, password_hash) VALUES (%s, %s) RETURNING id",
                               (order.email, hash_password(order.password))).fetchone()["id"]
        customer_id = conn.execute(
            "INSERT INTO customers (user_id, first_name, last_name, company, phone, country) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id", (user_id, *details)).fetchone()["id"]
    utm = order.utm
    subscription_id = conn.execute(
        """INSERT INTO subscriptions (customer_id, plan_id, billing_cycle, promo_code, amount_cents, test_mode,
                                      utm_source, utm_medium, utm_campaign, utm_term, utm_content)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (customer_id, plan["id"], order.billing_cycle, order.promo_code, amount, order.test_mode,
         utm.get("source"), utm.get("medium"), utm.get("campaign"), utm.get("term"), utm.get("content"))
    ).fetchone()["id"]
    domain_id = conn.execute(
        "INSERT INTO domains (subscription_id, customer_id, name, mode, auth_code_encrypted) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (subscription_id, customer_id, order.domain, order.domain_mode,
         encrypt(settings, order.auth_code) if order.auth_code else None)).fetchone()["id"]
    return subscription_id, customer_id, user_id, domain_id
