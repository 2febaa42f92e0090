"""The rows a subscription's spec is built from, and the server it is placed on."""
from __future__ import annotations

import psycopg

_SUBSCRIPTION = """
    SELECT s.id, s.status, s.suspended_by, s.suspend_reason, s.server_id, s.activated_at, s.imported_at,
           u.email, c.first_name, c.last_name,
           p.slug, p.whm_package, p.disk_quota_mb, p.mailbox_count, p.mailbox_quota_mb,
           d.id AS domain_id, d.name AS domain, d.mode AS domain_mode, d.auth_code_encrypted, d.auto_renew AS domain_auto_renew,
           d.registrar_lock AS domain_lock, d.control_proven_at,
           coalesce(w.cpanel_password_resets, 0) AS cpanel_password_resets
      FROM subscriptions s
      JOIN customers c ON c.id = s.customer_id
      JOIN users u ON u.id = c.user_id
      JOIN plans p ON p.id = s.plan_id
      JOIN domains d ON d.subscription_id = s.id AND d.status <> 'released'
      LEFT JOIN websites w ON w.subscription_id = s.id
     WHERE s.id = %s
"""


def subscription(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    return conn.execute(_SUBSCRIPTION, (subscription_id,)).fetchone()


def server(conn: psycopg.Connection, server_id: int) -> dict | None:
    return conn.execute("SELECT * FROM servers WHERE id = %s", (server_id,)).fetchone()


def mailboxes(conn: psycopg.Connection, subscription_id: int) -> list[dict]:
    return conn.execute("SELECT id, local_part, quota_mb, password_encrypted FROM mailboxes "
                        "WHERE subscription_id = %s ORDER BY local_part", (subscription_id,)).fetchall()


def records(conn: psycopg.Connection, domain_id: int) -> list[dict]:
    return conn.execute("SELECT id, name, type, content, ttl, quarantined_reason FROM dns_records "
                        "WHERE domain_id = %s ORDER BY name, type, content, id", (domain_id,)).fetchall()


def quarantine(conn: psycopg.Connection, record_id: int, reason: str | None) -> None:
    """Mark a customer record as left out of the zone with why (None: published again)."""
    conn.execute("UPDATE dns_records SET quarantined_reason = %s, "
                 "quarantined_at = CASE WHEN %s::text IS NULL THEN NULL ELSE now() END WHERE id = %s",
                 (reason, reason, record_id))


def assigned_server(conn: psycopg.Connection, subscription_id: int) -> tuple[bool, int | None]:
    """(exists, server id) with the subscription row locked, so placement happens once."""
    row = conn.execute("SELECT server_id FROM subscriptions WHERE id = %s FOR UPDATE", (subscription_id,)).fetchone()
    return (row is not None, row["server_id"] if row else None)


def place(conn: psycopg.Connection, subscription_id: int, server_id: int) -> None:
    conn.execute("UPDATE subscriptions SET server_id = %s, updated_at = now() WHERE id = %s",
                 (server_id, subscription_id))
