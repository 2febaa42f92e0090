"""Staff accounts, their sessions, login attempts and the audit log (SQL only)."""
from __future__ import annotations

import psycopg


def create(conn: psycopg.Connection, email: str, role: str, password_hash: str | None) -> int | None:
    """The new account's id, or None when that email is already staff."""
    row = conn.execute("INSERT INTO staff_users (email, role, password_hash) VALUES (%s, %s, %s) "
                       "ON CONFLICT DO NOTHING RETURNING id", (email, role, password_hash)).fetchone()
    return row["id"] if row else None


def by_email(conn: psycopg.Connection, email: str) -> dict | None:
    return conn.execute("SELECT * FROM staff_users WHERE lower(email) = lower(%s)", (email,)).fetchone()


def by_id(conn: psycopg.Connection, staff_id: int) -> dict | None:
    return conn.execute("SELECT * FROM staff_users WHERE id = %s", (staff_id,)).fetchone()


def all_staff(conn: psycopg.Connection) -> list[dict]:
    return conn.execute("SELECT id, email, role, status, totp_secret IS NOT NULL AS has_totp, created_at, "
                        "last_login_at FROM staff_users ORDER BY id").fetchall()


def set_password_hash(conn: psycopg.Connection, staff_id: int, password_hash: str) -> None:
    conn.execute("UPDATE staff_users SET password_hash = %s WHERE id = %s", (password_hash, staff_id))


def set_totp_secret(conn: psycopg.Connection, staff_id: int, encrypted: bytes | None) -> None:
    conn.execute("UPDATE staff_users SET totp_secret = %s WHERE id = %s", (encrypted, staff_id))


def set_status(conn: psycopg.Connection, staff_id: int, status: str) -> None:
    conn.execute("UPDATE staff_users SET status = %s WHERE id = %s", (status, staff_id))


def active_owners(conn: psycopg.Connection) -> list[int]:
    """The active owners' ids, locked: two owners demoting each other at once are decided in turn."""
    return [r["id"] for r in conn.execute("SELECT id FROM staff_users WHERE role = 'owner' AND status = 'active' "
                                          "ORDER BY id FOR UPDATE").fetchall()]


def set_role(conn: psycopg.Connection, staff_id: int, role: str) -> None:
    conn.execute("UPDATE staff_users SET role = %s WHERE id = %s", (role, staff_id))


def record_login(conn: psycopg.Connection, staff_id: int) -> None:
    conn.execute("UPDATE staff_users SET last_login_at = now() WHERE id = %s", (staff_id,))


# --- one-time codes already used (TOTP replay) ------------------------------------------------

def claim_totp_step(conn: psycopg.Connection, staff_id: int, step: int) -> bool:
    """True the first time a code's time step is used for this account (a replay is refused)."""
    return conn.execute("UPDATE staff_users SET totp_last_step = %s WHERE id = %s "
                        "AND (totp_last_step IS NULL OR totp_last_step < %s)", (step, staff_id, step)).rowcount == 1


# --- set-password links -----------------------------------------------------------------------

def add_password_token(conn: psycopg.Connection, staff_id: int, token_hash: str, valid_hours: int,
                       sealed: bytes | None = None) -> None:
    conn.execute("INSERT INTO staff_password_tokens (token_hash, staff_id, expires_at, token_sealed) "
                 "VALUES (%s, %s, now() + make_interval(hours => %s), %s)", (token_hash, staff_id, valid_hours, sealed))


def link_to_send(conn: psycopg.Connection, token_hash: str) -> dict | None:
    """A set-password link still to be mailed (unused, unexpired), with its account's email."""
    return conn.execute(
        """SELECT t.token_sealed, t.expires_at, u.email, u.role FROM staff_password_tokens t
             JOIN staff_users u ON u.id = t.staff_id
            WHERE t.token_hash = %s AND t.used_at IS NULL AND t.expires_at > now()""", (token_hash,)).fetchone()


def forget_sealed_link(conn: psycopg.Connection, token_hash: str) -> None:
    conn.execute("UPDATE staff_password_tokens SET token_sealed = NULL WHERE token_hash = %s", (token_hash,))


def use_password_token(conn: psycopg.Connection, token_hash: str) -> int | None:
    row = conn.execute("UPDATE staff_password_tokens SET used_at = now() WHERE token_hash = %s "
                       "AND used_at IS NULL AND expires_at > now() RETURNING staff_id", (token_hash,)).fetchone()
    return row["staff_id"] if row else None


# --- login attempts (a record; the login throttle decides) -----------------------------------------------------------

def record_attempt(conn: psycopg.Connection, email: str, address: str, succeeded: bool) -> None:
    conn.execute("INSERT INTO staff_login_attempts (email, address, succeeded) VALUES (lower(%s), %s, %s)",
                 (email, address, succeeded))


# --- sessions ---------------------------------------------------------------------------------

def add_session(conn: psycopg.Connection, id_hash: str, staff_id: int, csrf: str, hours: int,
                address: str) -> None:
    conn.execute("INSERT INTO staff_sessions (id_hash, staff_id, csrf, expires_at, address) "
                 "VALUES (%s, %s, %s, now() + make_interval(hours => %s), %s)",
                 (id_hash, staff_id, csrf, hours, address))


def live_session(conn: psycopg.Connection, id_hash: str) -> dict | None:
    """The session and its account, only while both are live (not revoked, expired or disabled)."""
    return conn.execute(
        """UPDATE staff_sessions s SET last_seen_at = now()
             FROM staff_users u
            WHERE s.id_hash = %s AND u.id = s.staff_id AND s.revoked_at IS NULL AND s.expires_at > now()
              AND u.status = 'active'
        RETURNING u.id AS staff_id, u.email, u.role, s.csrf, s.id_hash""", (id_hash,)).fetchone()


def revoke_session(conn: psycopg.Connection, id_hash: str) -> None:
    conn.execute("UPDATE staff_sessions SET revoked_at = now() WHERE id_hash = %s AND revoked_at IS NULL",
                 (id_hash,))


def revoke_sessions_of(conn: psycopg.Connection, staff_id: int) -> int:
    return conn.execute("UPDATE staff_sessions SET revoked_at = now() WHERE staff_id = %s AND revoked_at IS NULL",
                        (staff_id,)).rowcount


# --- audit log ----------------------------------------------------------------------------------

def audit(conn: psycopg.Connection, *, staff_id: int | None, staff_email: str, action: str,
          subscription_id: int | None, outcome: str, detail: str | None, address: str | None) -> int:
    return conn.execute(
        "INSERT INTO staff_audit_log (staff_id, staff_email, action, subscription_id, outcome, detail, address) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (staff_id, staff_email, action, subscription_id, outcome, detail, address)).fetchone()["id"]


def audit_entries(conn: psycopg.Connection, *, query: str = "", subscription_id: int | None = None,
                  before_id: int | None = None, limit: int = 50) -> list[dict]:
    """Newest first; `query` matches the email, the action or the outcome (prefix)."""
    return conn.execute(
        """SELECT * FROM staff_audit_log
            WHERE (%(sid)s::bigint IS NULL OR subscription_id = %(sid)s)
              AND (%(before)s::bigint IS NULL OR id < %(before)s)
              AND (%(q)s = '' OR lower(staff_email) LIKE lower(%(q)s) || '%%' OR action LIKE %(q)s || '%%'
                   OR outcome LIKE %(q)s || '%%')
            ORDER BY id DESC LIMIT %(limit)s""",
        {"sid": subscription_id, "before": before_id, "q": query, "limit": limit}).fetchall()


def next_resend_number(conn: psycopg.Connection, subscription_id: int) -> int:
    """A fresh number for an operator's resend of the welcome email (its own dedupe key)."""
    return conn.execute("SELECT count(*) + 1 AS n FROM staff_audit_log WHERE subscription_id = %s "
                        "AND action = 'resend_welcome'", (subscription_id,)).fetchone()["n"]


# --- API tokens -------------------------------------------------------------------------------

def add_token(conn: psycopg.Connection, token_hash: str, staff_id: int, scopes: list[str], label: str | None) -> None:
    conn.execute("INSERT INTO staff_api_tokens (token_hash, staff_id, scopes, label) VALUES (%s, %s, %s, %s)",
                 (token_hash, staff_id, scopes, label))


def live_token(conn: psycopg.Connection, token_hash: str) -> dict | None:
    """The token and its account while both are live (not revoked, account active)."""
    return conn.execute(
        """UPDATE staff_api_tokens t SET last_used_at = now() FROM staff_users u
            WHERE t.token_hash = %s AND u.id = t.staff_id AND t.revoked_at IS NULL AND u.status = 'active'
        RETURNING u.id AS staff_id, u.email, u.role, t.scopes""", (token_hash,)).fetchone()


def tokens_of(conn: psycopg.Connection) -> list[dict]:
    """Every live API token (never the token: its hash names it), newest first."""
    return conn.execute(
        """SELECT t.token_hash, t.staff_id, u.email, t.scopes, t.label, t.created_at, t.last_used_at
             FROM staff_api_tokens t JOIN staff_users u ON u.id = t.staff_id
            WHERE t.revoked_at IS NULL ORDER BY t.created_at DESC""").fetchall()


def revoke_token(conn: psycopg.Connection, token_hash: str) -> dict | None:
    return conn.execute(
        """UPDATE staff_api_tokens t SET revoked_at = now() FROM staff_users u
            WHERE t.token_hash = %s AND t.revoked_at IS NULL AND u.id = t.staff_id
        RETURNING u.email, t.label, t.scopes""", (token_hash,)).fetchone()
