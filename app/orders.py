"""Placing an order: the rows the seed's checkout-intent creates, all in one transaction.

users (argon2 hash), customers, subscriptions (pending_payment), domains (pending).
Nothing here talks to Stripe or provisions anything; a placed order only becomes
hosting when its payment is confirmed (app/lifecycle.py) and the worker converges it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from argon2 import PasswordHasher

from app.crypto import encrypt
from app.settings import Settings

_HASHER = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)


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


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


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


def place_order(conn: psycopg.Connection, settings: Settings, order: Order, *, free: bool = False) -> PlacedOrder:
    """Write the order; the caller owns the transaction (all rows or none). `conn` uses dict rows."""
    plan = conn.execute("SELECT * FROM plans WHERE slug = %s AND active", (order.plan_slug,)).fetchone()
    if plan is None:
        raise UnknownPlan(order.plan_slug)
    if conn.execute("SELECT 1 FROM users WHERE lower(email) = lower(%s)", (order.email,)).fetchone():
        raise OrderConflict("customer.email", "an account with this email already exists: log in to add a site")
    if conn.execute("SELECT 1 FROM domains WHERE name = %s AND status <> 'released'", (order.domain,)).fetchone():
        raise OrderConflict("domain", f"{order.domain} is already hosted here")
    promo = find_promo(conn, order.promo_code)
    price = plan["price_yearly_cents"] if order.billing_cycle == "yearly" else plan["price_monthly_cents"]
    amount = 0 if free else price_after_promo(price, promo)

    try:
        ids = _insert(conn, settings, order, plan, amount)
    except psycopg.errors.UniqueViolation as exc:  # a concurrent order won the race
        if exc.diag.constraint_name == "users_email_key":
            raise OrderConflict("customer.email", "an account with this email already exists") from exc
        raise OrderConflict("domain", f"{order.domain} is already hosted here") from exc
    return PlacedOrder(*ids, dict(plan), amount, promo)


def _insert(conn: psycopg.Connection, settings: Settings, order: Order, plan: dict, amount: int):
    user_id = conn.execute("INSERT INTO users (email, password_hash) VALUES (%s, %s) RETURNING id",
                           (order.email, hash_password(order.password))).fetchone()["id"]
    customer_id = conn.execute(
        "INSERT INTO customers (user_id, first_name, last_name, company, phone, country) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (user_id, order.first_name, order.last_name, order.company, order.phone, order.country)).fetchone()["id"]
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
