"""The catalogue as the operator manages it (`mpanel plans`, `mpanel coupons`): every plan and
promotion code, sold or retired. Checkout reads it through plans.py."""
from __future__ import annotations

import psycopg

PLAN_COLUMNS = ("slug", "name", "whm_package", "disk_quota_mb", "bandwidth_mb", "mailbox_count", "mailbox_quota_mb",
                "price_monthly_cents", "price_yearly_cents", "currency", "stripe_price_monthly",
                "stripe_price_yearly", "active")


def all_plans(conn: psycopg.Connection) -> list[dict]:
    return conn.execute("SELECT * FROM plans ORDER BY active DESC, price_monthly_cents, slug").fetchall()


def plan_by_slug(conn: psycopg.Connection, slug: str) -> dict | None:
    return conn.execute("SELECT * FROM plans WHERE slug = %s", (slug,)).fetchone()


def add_plan(conn: psycopg.Connection, values: dict) -> dict | None:
    """None when the slug is taken (nothing written)."""
    names = [n for n in PLAN_COLUMNS if n in values]
    return conn.execute(
        f"INSERT INTO plans ({', '.join(names)}) VALUES ({', '.join('%s' for _ in names)}) "
        "ON CONFLICT (slug) DO NOTHING RETURNING *", [values[n] for n in names]).fetchone()


def update_plan(conn: psycopg.Connection, slug: str, values: dict) -> dict | None:
    names = [n for n in PLAN_COLUMNS if n in values and n != "slug"]
    if not names:
        return plan_by_slug(conn, slug)
    return conn.execute(f"UPDATE plans SET {', '.join(f'{n} = %s' for n in names)} WHERE slug = %s RETURNING *",
                        [*(values[n] for n in names), slug]).fetchone()


def all_coupons(conn: psycopg.Connection) -> list[dict]:
    return conn.execute("SELECT * FROM promo_codes ORDER BY active DESC, code").fetchall()


def add_coupon(conn: psycopg.Connection, code: str, percent_off: int | None, amount_off_cents: int | None,
               expires_at: str | None) -> dict | None:
    return conn.execute(
        "INSERT INTO promo_codes (code, percent_off, amount_off_cents, expires_at) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (code) DO NOTHING RETURNING *", (code, percent_off, amount_off_cents, expires_at)).fetchone()


def retire_coupon(conn: psycopg.Connection, code: str) -> dict | None:
    """No longer accepted at checkout; orders sold with it keep their terms (promo_by_code)."""
    return conn.execute("UPDATE promo_codes SET active = false WHERE upper(code) = upper(%s) RETURNING *",
                        (code,)).fetchone()
