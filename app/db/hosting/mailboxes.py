"""Mailboxes a customer added (admin@ is implied by every plan and has no row)."""
from __future__ import annotations

import psycopg


def active_site(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    """The active, built site (whose it is: app/services/customers/sites.py): id, domain,
    mailbox_count, mailbox_quota_mb."""
    return conn.execute(
        """SELECT s.id, d.name AS domain, p.mailbox_count, p.mailbox_quota_mb
             FROM subscriptions s JOIN plans p ON p.id = s.plan_id
             JOIN domains d ON d.subscription_id = s.id AND d.status <> 'released'
             JOIN websites w ON w.subscription_id = s.id AND w.status = 'active'
            WHERE s.id = %s AND s.status = 'active'""", (subscription_id,)).fetchone()


def count(conn: psycopg.Connection, subscription_id: int) -> int:
    return conn.execute("SELECT count(*) AS n FROM mailboxes WHERE subscription_id = %s",
                        (subscription_id,)).fetchone()["n"]


def insert(conn: psycopg.Connection, subscription_id: int, local_part: str, quota_mb: int,
           password_encrypted: bytes) -> None:
    """Raises psycopg.errors.UniqueViolation when the address exists (inside a savepoint: the
    caller's transaction goes on)."""
    with conn.transaction():
        conn.execute("INSERT INTO mailboxes (subscription_id, local_part, quota_mb, password_encrypted) "
                     "VALUES (%s, %s, %s, %s)", (subscription_id, local_part, quota_mb, password_encrypted))


def delete(conn: psycopg.Connection, subscription_id: int, local_part: str) -> bool:
    return conn.execute("DELETE FROM mailboxes WHERE subscription_id = %s AND local_part = %s RETURNING id",
                        (subscription_id, local_part)).fetchone() is not None


def forget_password(conn: psycopg.Connection, row_id: int, token: bytes) -> None:
    """Drop the chosen password once applied, unless the row now holds another one."""
    conn.execute("UPDATE mailboxes SET password_encrypted = NULL WHERE id = %s AND password_encrypted = %s",
                 (row_id, token))
