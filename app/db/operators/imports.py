"""What an import checks against mpanel's own records (SQL only)."""
from __future__ import annotations

import psycopg


def plans(conn: psycopg.Connection) -> list[dict]:
    return conn.execute("SELECT id, slug, name, whm_package, disk_quota_mb, mailbox_count, active "
                        "FROM plans ORDER BY id").fetchall()


def holder_of_domain(conn: psycopg.Connection, name: str) -> int | None:
    """The subscription holding `name` (a live order), or None."""
    row = conn.execute("SELECT subscription_id FROM domains WHERE name = %s AND status <> 'released'",
                       (name,)).fetchone()
    return row["subscription_id"] if row else None


def holder_of_account(conn: psycopg.Connection, server_id: int, username: str) -> int | None:
    """The subscription whose website is this cPanel account on this server, or None."""
    row = conn.execute("SELECT w.subscription_id FROM websites w JOIN subscriptions s ON s.id = w.subscription_id "
                       "WHERE w.cpanel_username = %s AND s.server_id = %s AND s.status <> 'terminated'",
                       (username, server_id)).fetchone()
    return row["subscription_id"] if row else None
