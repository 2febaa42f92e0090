"""What the notices that fall due with time look at (app/services/notices.py): orders past due,
canceled orders near the end of their retention, registrations near expiry with auto-renew off,
and those renewed automatically whose renewal the card on file may not cover."""
from __future__ import annotations

import datetime as dt

import psycopg


def past_due(conn: psycopg.Connection) -> list[dict]:
    """Orders whose renewal payment failed and is still unpaid (a payment or a cancellation moves
    them out of this status, which ends their reminders)."""
    return conn.execute("SELECT id, past_due_since FROM subscriptions "
                        "WHERE status = 'past_due' AND past_due_since IS NOT NULL AND NOT billed_externally ORDER BY id").fetchall()


def retained_until_before(conn: psycopg.Connection, before: dt.datetime) -> list[dict]:
    """Canceled orders whose retention ends before `before`, with their domain."""
    return conn.execute(
        """SELECT s.id, s.terminate_after, u.email,
                  (SELECT name FROM domains WHERE subscription_id = s.id ORDER BY id DESC LIMIT 1) AS domain
             FROM subscriptions s JOIN customers c ON c.id = s.customer_id JOIN users u ON u.id = c.user_id
            WHERE s.status = 'canceled' AND s.terminate_after IS NOT NULL AND s.terminate_after < %s
            ORDER BY s.terminate_after, s.id""", (before,)).fetchall()


def expiring_without_auto_renew(conn: psycopg.Connection, before: dt.datetime) -> list[dict]:
    """Live registrations held through us, auto-renew off (NULL: never chosen, on), whose
    expiry as the registrar sync last recorded it falls before `before`."""
    return conn.execute(
        """SELECT d.id AS domain_id, d.name, d.subscription_id, d.expires_at
             FROM domains d JOIN subscriptions s ON s.id = d.subscription_id
            WHERE d.mode IN ('new_registration', 'transfer') AND d.status = 'active'
              AND d.auto_renew IS FALSE AND d.expires_at IS NOT NULL AND d.expires_at < %s
              AND s.status NOT IN ('abandoned', 'terminated', 'pending_payment')
            ORDER BY d.expires_at, d.id""", (before,)).fetchall()


def expiring_with_auto_renew(conn: psycopg.Connection, before: dt.datetime) -> list[dict]:
    """Live registrations held through us, auto-renew on, of an order Stripe bills, that expire
    before `before` or whose card was last found not to cover the renewal (looked at again, so the
    panel's notice goes once the card is updated)."""
    return conn.execute(
        """SELECT d.id AS domain_id, d.name, d.subscription_id, d.expires_at, d.card_lapses_before_renewal,
                  s.stripe_subscription_id
             FROM domains d JOIN subscriptions s ON s.id = d.subscription_id
            WHERE d.mode IN ('new_registration', 'transfer') AND d.status = 'active'
              AND d.auto_renew IS NOT FALSE AND d.expires_at IS NOT NULL
              AND (d.expires_at < %s OR d.card_lapses_before_renewal IS NOT NULL)
              AND s.status IN ('active', 'past_due') AND s.stripe_subscription_id IS NOT NULL
            ORDER BY d.expires_at, d.id""", (before,)).fetchall()


def record_card_lapses(conn: psycopg.Connection, domain_id: int, card: str | None) -> None:
    """The card that will not cover the registration's renewal (None: it will, or none is needed)."""
    conn.execute("UPDATE domains SET card_lapses_before_renewal = %s, updated_at = now() WHERE id = %s",
                 (card, domain_id))
