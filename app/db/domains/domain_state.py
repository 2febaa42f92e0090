"""The customer's domain as the panel shows it, and their auto-renew and lock choices (desired state)."""
from __future__ import annotations

import psycopg


def site_domain(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    """The live domain of an order (whose it is: app/services/customers/sites.py): name, mode,
    status, auto_renew (NULL: never chosen, on), expires_at as last recorded; None without one."""
    return conn.execute(
        """SELECT s.id, s.status AS subscription_status, d.id AS domain_id, d.name, d.mode, d.status,
                  d.auto_renew, d.registrar_lock, d.expires_at
             FROM subscriptions s
             JOIN domains d ON d.subscription_id = s.id AND d.status <> 'released'
            WHERE s.id = %s AND s.status <> 'abandoned'""", (subscription_id,)).fetchone()


def set_auto_renew(conn: psycopg.Connection, domain_id: int, enabled: bool) -> None:
    conn.execute("UPDATE domains SET auto_renew = %s, updated_at = now() WHERE id = %s", (enabled, domain_id))


def set_registrar_lock(conn: psycopg.Connection, domain_id: int, locked: bool) -> None:
    conn.execute("UPDATE domains SET registrar_lock = %s, updated_at = now() WHERE id = %s", (locked, domain_id))


def record_registrar_state(conn: psycopg.Connection, domain_id: int, expires_at, nameservers: list[str]) -> bool:
    """What the registrar said when last asked (expiry and nameservers), kept for the dashboard;
    True when it changed what was recorded."""
    return conn.execute("UPDATE domains SET expires_at = %s, nameservers = %s, updated_at = now() "
                 "WHERE id = %s AND (expires_at IS DISTINCT FROM %s OR nameservers IS DISTINCT FROM %s) RETURNING id",
                 (expires_at, nameservers, domain_id, expires_at, nameservers)).fetchone() is not None


def registered_here(conn: psycopg.Connection) -> list[dict]:
    """Every live registration held in our registrar account (registered or transferred through
    us, active, its order not abandoned or terminated): what the nightly sync asks about."""
    return conn.execute(
        """SELECT d.id AS domain_id, d.name, d.subscription_id, d.expires_at, d.nameservers
             FROM domains d JOIN subscriptions s ON s.id = d.subscription_id
            WHERE d.mode IN ('new_registration', 'transfer') AND d.status = 'active'
              AND s.status NOT IN ('abandoned', 'terminated', 'pending_payment')
            ORDER BY d.id""").fetchall()
