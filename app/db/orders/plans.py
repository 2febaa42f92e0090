"""The catalogue: plans, their Stripe prices, and promotion codes."""
from __future__ import annotations

import psycopg

def active_by_slug(conn: psycopg.Connection, slug: str) -> dict | None:
    return conn.execute("SELECT * FROM plans WHERE slug = %s AND active", (slug,)).fetchone()


def by_id(conn: psycopg.Connection, plan_id: int) -> dict | None:
    return conn.execute("SELECT * FROM plans WHERE id = %s", (plan_id,)).fetchone()


def by_stripe_price(conn: psycopg.Connection, price_id: str) -> dict | None:
    return conn.execute("SELECT * FROM plans WHERE stripe_price_monthly = %s OR stripe_price_yearly = %s",
                        (price_id, price_id)).fetchone()


def set_stripe_price(conn: psycopg.Connection, plan_id: int, cycle: str, price_id: str) -> None:
    column = "stripe_price_yearly" if cycle == "yearly" else "stripe_price_monthly"
    conn.execute(f"UPDATE plans SET {column} = %s WHERE id = %s", (price_id, plan_id))


def usable_promo(conn: psycopg.Connection, code: str) -> dict | None:
    """An active, unexpired promotion code (case does not matter)."""
    return conn.execute("SELECT * FROM promo_codes WHERE upper(code) = upper(%s) AND active "
                        "AND (expires_at IS NULL OR expires_at > now())", (code,)).fetchone()


def set_stripe_coupon(conn: psycopg.Connection, promo_id: int, coupon_id: str) -> None:
    conn.execute("UPDATE promo_codes SET stripe_coupon_id = %s WHERE id = %s", (coupon_id, promo_id))


def promo_by_code(conn: psycopg.Connection, code: str) -> dict | None:
    """A promotion code whatever its state: an order taken back keeps the terms it was sold at."""
    return conn.execute("SELECT * FROM promo_codes WHERE upper(code) = upper(%s)", (code,)).fetchone()
