"""Payments, one row per Stripe payment intent."""
from __future__ import annotations

import psycopg


def record(conn: psycopg.Connection, *, subscription_id: int | None, intent_id: str, invoice_id: str | None,
           amount_cents: int, currency: str, status: str, failure_code: str | None) -> None:
    """Insert the intent's payment, or bring its status up to date when it is known already."""
    conn.execute("""INSERT INTO payments (subscription_id, stripe_payment_intent_id, stripe_invoice_id, amount_cents,
                                         currency, status, failure_code)
                    VALUES (%s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (stripe_payment_intent_id) DO UPDATE SET status = excluded.status,
                         failure_code = excluded.failure_code""",
                 (subscription_id, intent_id, invoice_id, amount_cents, currency, status, failure_code))
