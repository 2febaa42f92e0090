"""Rows a test needs, written the way the checkout flow writes them."""
from __future__ import annotations

import secrets

from argon2 import PasswordHasher

from app.crypto import encrypt

_HASHER = PasswordHasher(time_cost=1, memory_cost=8192)


def unique_domain(prefix: str = "shop") -> str:
    return f"{prefix}-{secrets.token_hex(4)}.com"


def make_subscription(conn, settings, *, domain: str | None = None, mode: str = "external",
                      plan: str = "shared_student", status: str = "active", auth_code: str | None = None) -> int:
    """A paid (by default) subscription with its user, customer and domain; returns its id."""
    domain = domain or unique_domain()
    email = f"owner-{secrets.token_hex(4)}@example.net"
    user_id = conn.execute("INSERT INTO users (email, password_hash) VALUES (%s, %s) RETURNING id",
                           (email, _HASHER.hash("TestPassword123!"))).fetchone()["id"]
    customer_id = conn.execute("INSERT INTO customers (user_id, first_name, last_name) VALUES (%s, 'Test', 'Owner') "
                               "RETURNING id", (user_id,)).fetchone()["id"]
    sub_id = conn.execute(
        "INSERT INTO subscriptions (customer_id, plan_id, billing_cycle, status) "
        "SELECT %s, id, 'monthly', %s FROM plans WHERE slug = %s RETURNING id",
        (customer_id, status, plan)).fetchone()["id"]
    conn.execute("INSERT INTO domains (subscription_id, customer_id, name, mode, auth_code_encrypted) "
                 "VALUES (%s, %s, %s, %s, %s)",
                 (sub_id, customer_id, domain, mode, encrypt(settings, auth_code) if auth_code else None))
    return sub_id
