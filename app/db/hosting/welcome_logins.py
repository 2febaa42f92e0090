"""A first converge's logins, sealed, until the welcome email carrying them is sent."""
from __future__ import annotations

import psycopg


def keep(conn: psycopg.Connection, subscription_id: int, sealed: bytes) -> None:
    conn.execute("INSERT INTO welcome_logins (subscription_id, sealed) VALUES (%s, %s) "
                 "ON CONFLICT (subscription_id) DO UPDATE SET sealed = EXCLUDED.sealed, made_at = now()",
                 (subscription_id, sealed))


def sealed(conn: psycopg.Connection, subscription_id: int) -> bytes | None:
    row = conn.execute("SELECT sealed FROM welcome_logins WHERE subscription_id = %s",
                       (subscription_id,)).fetchone()
    return bytes(row["sealed"]) if row else None


def forget(conn: psycopg.Connection, subscription_id: int) -> None:
    conn.execute("DELETE FROM welcome_logins WHERE subscription_id = %s", (subscription_id,))
