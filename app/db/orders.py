"""An order's own rows: the subscription waiting for payment and the domain it holds."""
from __future__ import annotations

import psycopg


def domain_holder_status(conn: psycopg.Connection, domain: str) -> str | None:
    """The status of the subscription holding this domain (None: nobody holds it)."""
    row = conn.execute("SELECT s.status FROM domains d JOIN subscriptions s ON s.id = d.subscription_id "
                       "WHERE d.name = %s AND d.status <> 'released'", (domain,)).fetchone()
    return row["status"] if row else None


def insert_subscription(conn: psycopg.Connection, *, customer_id: int, plan_id: int, billing_cycle: str,
                        promo_code: str | None, amount_cents: int, test_mode: bool, utm: dict) -> int:
    return conn.execute(
        """INSERT INTO subscriptions (customer_id, plan_id, billing_cycle, promo_code, amount_cents, test_mode,
                                      utm_source, utm_medium, utm_campaign, utm_term, utm_content)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (customer_id, plan_id, billing_cycle, promo_code, amount_cents, test_mode,
         utm.get("source"), utm.get("medium"), utm.get("campaign"), utm.get("term"), utm.get("content"))
    ).fetchone()["id"]


def insert_domain(conn: psycopg.Connection, *, subscription_id: int, customer_id: int, name: str, mode: str,
                  auth_code_encrypted: bytes | None) -> int:
    return conn.execute(
        "INSERT INTO domains (subscription_id, customer_id, name, mode, auth_code_encrypted) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (subscription_id, customer_id, name, mode, auth_code_encrypted)).fetchone()["id"]
