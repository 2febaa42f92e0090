"""The record of emails sent (emails_sent): what makes each email exactly-once."""
from __future__ import annotations

import psycopg

_SUBSCRIPTION = """
    SELECT s.id, s.status, s.provisioning_status, s.billing_cycle, s.past_due_since, s.terminate_after, s.current_period_end,
           s.failed_payment, s.suspended_by, s.suspend_reason,
           u.email, c.first_name, p.name AS plan_name, d.name AS domain, d.mode AS domain_mode,
           d.control_token, d.control_proven_at, d.control_claimed_at,
           EXISTS (SELECT 1 FROM subscriptions e
                    WHERE e.customer_id = s.customer_id AND e.id < s.id
                      AND e.status NOT IN ('pending_payment', 'abandoned')) AS has_earlier_site
      FROM subscriptions s
      JOIN customers c ON c.id = s.customer_id
      JOIN users u ON u.id = c.user_id
      JOIN plans p ON p.id = s.plan_id
      LEFT JOIN LATERAL (SELECT name, mode, control_token, control_proven_at, control_claimed_at FROM domains
                          WHERE subscription_id = s.id
                          ORDER BY status = 'released', id DESC LIMIT 1) d ON true
     WHERE s.id = %s
"""


def addressee(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    """Who a subscription's emails go to, and what they say about it."""
    return conn.execute(_SUBSCRIPTION, (subscription_id,)).fetchone()


def claim(conn: psycopg.Connection, *, subscription_id: int | None, kind: str, dedupe_key: str, recipient: str,
          subject: str, message_id: str, retake_after_seconds: float) -> str:
    """Claim the email for sending (state 'sending', this attempt's Message-ID as the claim).
    Returns 'claimed' (also when a claim older than `retake_after_seconds` was retaken: its
    sender died), 'sent' (someone sent it) or 'sending' (another sender holds a fresh claim)."""
    row = conn.execute(
        """INSERT INTO emails_sent (subscription_id, kind, dedupe_key, recipient, subject, message_id,
                                    state, claimed_at, sent_at)
           VALUES (%(sid)s, %(kind)s, %(key)s, %(to)s, %(subject)s, %(mid)s, 'sending', now(), NULL)
           ON CONFLICT (dedupe_key) DO UPDATE SET message_id = EXCLUDED.message_id, claimed_at = now(),
                  recipient = EXCLUDED.recipient, subject = EXCLUDED.subject
            WHERE emails_sent.state = 'sending'
              AND emails_sent.claimed_at < now() - make_interval(secs => %(retake)s)
           RETURNING id""",
        {"sid": subscription_id, "kind": kind, "key": dedupe_key, "to": recipient, "subject": subject,
         "mid": message_id, "retake": retake_after_seconds}).fetchone()
    if row is not None:
        return "claimed"
    return state_of(conn, dedupe_key) or "sending"


def state_of(conn: psycopg.Connection, dedupe_key: str) -> str | None:
    """'sending', 'sent', or None when nobody holds or sent it."""
    row = conn.execute("SELECT state FROM emails_sent WHERE dedupe_key = %s", (dedupe_key,)).fetchone()
    return row["state"] if row else None


def mark_sent(conn: psycopg.Connection, dedupe_key: str, message_id: str) -> None:
    conn.execute("UPDATE emails_sent SET state = 'sent', sent_at = now() "
                 "WHERE dedupe_key = %s AND message_id = %s", (dedupe_key, message_id))


def release(conn: psycopg.Connection, dedupe_key: str, message_id: str) -> None:
    """The relay refused or could not be reached: nothing was sent, so the claim goes."""
    conn.execute("DELETE FROM emails_sent WHERE dedupe_key = %s AND message_id = %s AND state = 'sending'",
                 (dedupe_key, message_id))


def is_recorded(conn: psycopg.Connection, dedupe_key: str) -> bool:
    """Sent, or being sent (a claim: its sender's job sends it or releases it, or it is retaken)."""
    return conn.execute("SELECT 1 FROM emails_sent WHERE dedupe_key = %s", (dedupe_key,)).fetchone() is not None


def latest_of_kinds(conn: psycopg.Connection, subscription_id: int, kinds: list[str]) -> str | None:
    row = conn.execute("SELECT kind FROM emails_sent WHERE subscription_id = %s AND kind = ANY(%s) "
                       "ORDER BY id DESC LIMIT 1", (subscription_id, kinds)).fetchone()
    return row["kind"] if row else None


def count_of_kind(conn: psycopg.Connection, subscription_id: int, kind: str) -> int:
    return conn.execute("SELECT count(*) AS n FROM emails_sent WHERE subscription_id = %s AND kind = %s",
                        (subscription_id, kind)).fetchone()["n"]


def cpanel_password_applied(conn: psycopg.Connection, subscription_id: int) -> int:
    """How many customer-requested cPanel password resets a converge has applied (0: none)."""
    row = conn.execute("SELECT cpanel_password_applied AS n FROM websites WHERE subscription_id = %s",
                       (subscription_id,)).fetchone()
    return (row["n"] or 0) if row else 0
