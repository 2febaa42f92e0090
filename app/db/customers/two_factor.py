"""A customer's second factor: the sealed TOTP secret on users, and the recovery codes' hashes."""
from __future__ import annotations

import psycopg


def state(conn: psycopg.Connection, user_id: int) -> dict | None:
    return conn.execute("SELECT totp_secret, totp_enabled_at, totp_last_step FROM users WHERE id = %s",
                        (user_id,)).fetchone()


def start(conn: psycopg.Connection, user_id: int, sealed_secret: bytes) -> None:
    conn.execute("UPDATE users SET totp_secret = %s, totp_enabled_at = NULL, totp_last_step = NULL "
                 "WHERE id = %s AND totp_enabled_at IS NULL", (sealed_secret, user_id))


def use_step(conn: psycopg.Connection, user_id: int, step: int, *, enable: bool = False) -> bool:
    """Record the code's time step; False when it (or a later one) was used already: one
    statement, so two requests with the same code cannot both pass."""
    enabled = ", totp_enabled_at = coalesce(totp_enabled_at, now())" if enable else ""
    return conn.execute(
        f"UPDATE users SET totp_last_step = %s{enabled} WHERE id = %s AND totp_secret IS NOT NULL "
        "AND (totp_last_step IS NULL OR totp_last_step < %s) RETURNING id", (step, user_id, step)).fetchone() is not None


def turn_off(conn: psycopg.Connection, user_id: int) -> None:
    conn.execute("UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL WHERE id = %s",
                 (user_id,))
    conn.execute("DELETE FROM user_recovery_codes WHERE user_id = %s", (user_id,))


def replace_recovery_codes(conn: psycopg.Connection, user_id: int, hashes: list[str]) -> None:
    conn.execute("DELETE FROM user_recovery_codes WHERE user_id = %s", (user_id,))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO user_recovery_codes (user_id, code_hash) VALUES (%s, %s)",
                        [(user_id, h) for h in hashes])


def unused_recovery_codes(conn: psycopg.Connection, user_id: int) -> list[dict]:
    """Locked, so one code cannot be spent twice by two requests at once."""
    return conn.execute("SELECT id, code_hash FROM user_recovery_codes WHERE user_id = %s AND used_at IS NULL "
                        "ORDER BY id FOR UPDATE", (user_id,)).fetchall()


def spend_recovery_code(conn: psycopg.Connection, code_id: int) -> None:
    conn.execute("UPDATE user_recovery_codes SET used_at = now() WHERE id = %s", (code_id,))
