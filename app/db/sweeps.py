"""Which subscriptions each periodic sweep looks at."""
from __future__ import annotations

import psycopg


def provisioned(conn: psycopg.Connection, *, certificate_due_within_days: int | None = None) -> list[int]:
    """Subscriptions whose stack converged ('ready'), optionally only those whose certificate
    expires within the given number of days."""
    due = "AND w.ssl_expires_at < now() + make_interval(days => %(days)s)" if certificate_due_within_days else ""
    rows = conn.execute(
        "SELECT s.id FROM subscriptions s LEFT JOIN websites w ON w.subscription_id = s.id "
        f"WHERE s.provisioning_status = 'ready' {due} ORDER BY s.id",
        {"days": certificate_due_within_days}).fetchall()
    return [r["id"] for r in rows]


def unpaid_checkout_sessions(conn: psycopg.Connection, older_than_minutes: int) -> list[str]:
    rows = conn.execute("SELECT stripe_checkout_session_id AS session_id FROM subscriptions "
                        "WHERE status = 'pending_payment' AND stripe_checkout_session_id IS NOT NULL "
                        "AND created_at < now() - make_interval(mins => %s) ORDER BY id",
                        (older_than_minutes,)).fetchall()
    return [r["session_id"] for r in rows]


def stragglers(conn: psycopg.Connection) -> list[int]:
    """Desired state that no run has acted on: a paid order never converged, a terminated one
    not destroyed."""
    rows = conn.execute(
        """SELECT id FROM subscriptions
            WHERE updated_at < now() - interval '2 minutes'
              -- paid, by our own records (billed elsewhere: an import, on the operator's word)
              AND (stripe_subscription_id IS NOT NULL OR test_mode OR billed_externally)
              AND ((status IN ('active', 'past_due', 'suspended', 'canceled')
                    AND provisioning_status = 'pending')
                OR (status = 'terminated' AND provisioning_status NOT IN ('pending', 'destroyed', 'failed')))
            ORDER BY id""").fetchall()
    return [r["id"] for r in rows]


def unprocessed_stripe_events(conn: psycopg.Connection, older_than_minutes: int) -> list[dict]:
    """Events Stripe delivered (and we answered 200 to) that no processing has finished: id and payload."""
    return conn.execute("SELECT id, payload FROM stripe_events WHERE processed_at IS NULL "
                        "AND received_at < now() - make_interval(mins => %s) ORDER BY received_at LIMIT 1000",
                        (older_than_minutes,)).fetchall()
