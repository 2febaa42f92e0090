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


def holder_of_stripe_subscription(conn: psycopg.Connection, stripe_subscription_id: str) -> int | None:
    """Our subscription holding this Stripe subscription (whatever its state: the id is unique), or None."""
    row = conn.execute("SELECT id FROM subscriptions WHERE stripe_subscription_id = %s",
                       (stripe_subscription_id,)).fetchone()
    return row["id"] if row else None


def lock_subscription(conn: psycopg.Connection, subscription_id: int) -> dict:
    """The whole subscription row, locked (the lifecycle reads and changes it)."""
    return conn.execute("SELECT * FROM subscriptions WHERE id = %s FOR UPDATE", (subscription_id,)).fetchone()


def open_import(conn: psycopg.Connection, server_id: int, username: str) -> dict | None:
    """An import of this account whose first converge has not finished (an interrupted one)."""
    return conn.execute("SELECT subscription_id, billing FROM account_imports WHERE server_id = %s AND "
                        "cpanel_username = %s AND finished_at IS NULL", (server_id, username)).fetchone()


def record_import(conn: psycopg.Connection, *, subscription_id: int, server_id: int, username: str, billing: str,
                  command: str, operator: str) -> None:
    conn.execute("INSERT INTO account_imports (subscription_id, server_id, cpanel_username, billing, command, "
                 "operator) VALUES (%s, %s, %s, %s, %s, %s)",
                 (subscription_id, server_id, username, billing, command, operator))


def mark_imported(conn: psycopg.Connection, subscription_id: int, *, server_id: int, username: str,
                  billed_externally: bool, stripe_subscription_id: str | None) -> None:
    """The order's rows as an imported, paid, placed account: active, on its server, its domain's
    control proven by the operator's command (so its mail is delivered locally)."""
    conn.execute("UPDATE subscriptions SET status = 'active', imported_at = now(), billed_externally = %s, "
                 "stripe_subscription_id = %s, server_id = %s, updated_at = now() WHERE id = %s",
                 (billed_externally, stripe_subscription_id, server_id, subscription_id))
    conn.execute("UPDATE domains SET control_proven_at = now() WHERE subscription_id = %s", (subscription_id,))
    conn.execute("INSERT INTO websites (subscription_id, domain_id, server_id, cpanel_username, status) "
                 "SELECT %s, id, %s, %s, 'provisioning' FROM domains WHERE subscription_id = %s "
                 "ON CONFLICT (subscription_id) DO UPDATE SET cpanel_username = EXCLUDED.cpanel_username",
                 (subscription_id, server_id, username, subscription_id))


def mark_registered(conn: psycopg.Connection, subscription_id: int, *, auto_renew: bool, expires: str | None) -> None:
    """The domain as the registrar has it: ours at NameSilo, its auto-renewal the customer's choice
    as it was (the registration keeps it), its expiry as last read."""
    conn.execute("UPDATE domains SET registrar = 'namesilo', auto_renew = %s, expires_at = %s::date, "
                 "control_proven_by = 'registered', updated_at = now() WHERE subscription_id = %s",
                 (auto_renew, expires, subscription_id))


def insert_mailbox(conn: psycopg.Connection, subscription_id: int, local_part: str, quota_mb: int) -> None:
    conn.execute("INSERT INTO mailboxes (subscription_id, local_part, quota_mb) VALUES (%s, %s, %s)",
                 (subscription_id, local_part, quota_mb))


def finish(conn: psycopg.Connection, subscription_id: int) -> None:
    conn.execute("UPDATE account_imports SET finished_at = now() WHERE subscription_id = %s AND finished_at IS NULL",
                 (subscription_id,))
