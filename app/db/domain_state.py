"""The customer's domain as the panel shows it, and their auto-renew choice (desired state)."""
from __future__ import annotations

import psycopg


def site_domain(conn: psycopg.Connection, user_id: int, subscription_id: int) -> dict | None:
    """The live domain of one of this user's orders: name, mode, status, auto_renew (NULL: never
    chosen, on), expires_at as last recorded; None when not theirs."""
    return conn.execute(
        """SELECT s.id, s.status AS subscription_status, d.id AS domain_id, d.name, d.mode, d.status,
                  d.auto_renew, d.expires_at
             FROM subscriptions s JOIN customers c ON c.id = s.customer_id
             JOIN domains d ON d.subscription_id = s.id AND d.status <> 'released'
            WHERE s.id = %s AND c.user_id = %s AND s.status <> 'abandoned'""",
        (subscription_id, user_id)).fetchone()


def set_auto_renew(conn: psycopg.Connection, domain_id: int, enabled: bool) -> None:
    conn.execute("UPDATE domains SET auto_renew = %s, updated_at = now() WHERE id = %s", (enabled, domain_id))


def record_registrar_state(conn: psycopg.Connection, domain_id: int, expires_at, nameservers: list[str]) -> None:
    """What the registrar said when last asked (expiry and nameservers), kept for the dashboard."""
    conn.execute("UPDATE domains SET expires_at = %s, nameservers = %s, updated_at = now() "
                 "WHERE id = %s AND (expires_at IS DISTINCT FROM %s OR nameservers IS DISTINCT FROM %s)",
                 (expires_at, nameservers, domain_id, expires_at, nameservers))
