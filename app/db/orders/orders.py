"""An order's own rows: the subscription waiting for payment and the domain it holds."""
from __future__ import annotations

import psycopg


def domain_holder_status(conn: psycopg.Connection, domain: str) -> str | None:
    """The status of the subscription holding this domain (None: nobody holds it; a domain its
    owner claimed away from an unverified order holds nothing, app/services/domains/claims.py)."""
    row = conn.execute("SELECT s.status FROM domains d JOIN subscriptions s ON s.id = d.subscription_id "
                       "WHERE d.name = %s AND d.status <> 'released' AND d.control_claimed_at IS NULL",
                       (domain,)).fetchone()
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



def withdraw(conn: psycopg.Connection, subscription_id: int, new_user_id: int | None) -> bool:
    """Remove an order Stripe refused to open a checkout for, with its domain and the user it
    created (unless another order came to use that user meanwhile): the checkout answered an
    error, so nothing of it may stay. Only an order still waiting for payment with no session
    recorded is removed; False when there was none (a concurrent start-over abandoned it)."""
    order = conn.execute("SELECT customer_id FROM subscriptions WHERE id = %s AND status = 'pending_payment' "
                         "AND stripe_checkout_session_id IS NULL FOR UPDATE", (subscription_id,)).fetchone()
    if order is None:
        return False
    conn.execute("DELETE FROM domains WHERE subscription_id = %s", (subscription_id,))
    conn.execute("DELETE FROM subscriptions WHERE id = %s", (subscription_id,))
    if new_user_id is not None:
        conn.execute("DELETE FROM customers c WHERE c.id = %s AND c.user_id = %s AND NOT EXISTS "
                     "(SELECT 1 FROM subscriptions s WHERE s.customer_id = c.id)", (order["customer_id"], new_user_id))
        conn.execute("DELETE FROM users u WHERE u.id = %s AND NOT EXISTS "
                     "(SELECT 1 FROM customers c WHERE c.user_id = u.id)", (new_user_id,))
    return True


def record_checkout_session(conn: psycopg.Connection, subscription_id: int, session_id: str) -> bool:
    """Attach the Stripe session opened for a new order, if the order still waits for it (not
    abandoned by a concurrent start-over or the sweep meanwhile). Recording the same session
    again is a no-op success (a retried request got the same session from Stripe)."""
    return conn.execute(
        "UPDATE subscriptions SET stripe_checkout_session_id = %(session)s, updated_at = now() "
        "WHERE id = %(sid)s AND status = 'pending_payment' "
        "AND (stripe_checkout_session_id IS NULL OR stripe_checkout_session_id = %(session)s) RETURNING id",
        {"sid": subscription_id, "session": session_id}).fetchone() is not None


def start_take_back(conn: psycopg.Connection, subscription_id: int) -> int:
    """Count one more checkout taking back this retained order; its number names the attempt's
    idempotency key (committed before Stripe is called, so a key is never reused)."""
    return conn.execute("UPDATE subscriptions SET take_backs = take_backs + 1 WHERE id = %s RETURNING take_backs",
                        (subscription_id,)).fetchone()["take_backs"]


def take_backs(conn: psycopg.Connection, subscription_id: int) -> int:
    return conn.execute("SELECT take_backs FROM subscriptions WHERE id = %s FOR UPDATE",
                        (subscription_id,)).fetchone()["take_backs"]


def abandon_sessionless(conn: psycopg.Connection, older_than_minutes: int) -> list[int]:
    """Orders whose checkout died between writing them and recording their Stripe session:
    abandoned, their domain released. Nobody was given a checkout address for them (the answer
    is sent only after the session is recorded), so nobody can have paid."""
    rows = conn.execute(
        """UPDATE subscriptions SET status = 'abandoned', updated_at = now()
            WHERE status = 'pending_payment' AND stripe_checkout_session_id IS NULL
              AND created_at < now() - make_interval(mins => %s)
           RETURNING id""", (older_than_minutes,)).fetchall()
    ids = [r["id"] for r in rows]
    if ids:
        conn.execute("UPDATE domains SET status = 'released', updated_at = now() "
                     "WHERE subscription_id = ANY(%s) AND status = 'pending'", (ids,))
    return ids
