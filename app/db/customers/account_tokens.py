"""One-time account links (password reset, email change, its undo) and the users' session generation."""
from __future__ import annotations

import psycopg


def insert(conn: psycopg.Connection, *, user_id: int, purpose: str, token_hash: bytes, token_sealed: bytes,
           recipient: str, ttl_seconds: int, undoes: int | None = None) -> int:
    return conn.execute(
        "INSERT INTO account_tokens (user_id, purpose, token_hash, token_sealed, recipient, expires_at, undoes) "
        "VALUES (%s, %s, %s, %s, %s, now() + make_interval(secs => %s), %s) RETURNING id",
        (user_id, purpose, token_hash, token_sealed, recipient, ttl_seconds, undoes)).fetchone()["id"]


def issued_lately(conn: psycopg.Connection, user_id: int, purpose: str, within_seconds: int) -> int:
    return conn.execute(
        "SELECT count(*) AS n FROM account_tokens WHERE user_id = %s AND purpose = %s "
        "AND created_at > now() - make_interval(secs => %s)", (user_id, purpose, within_seconds)).fetchone()["n"]


def wait_to_issue(conn: psycopg.Connection, user_id: int, purpose: str, within_seconds: int, allowed: int) -> int:
    """Seconds until one more link of this kind fits in the allowance (0: it fits now)."""
    row = conn.execute(
        "SELECT ceil(extract(epoch FROM created_at + make_interval(secs => %(within)s) - now()))::int AS wait "
        "FROM account_tokens WHERE user_id = %(user)s AND purpose = %(purpose)s "
        "AND created_at > now() - make_interval(secs => %(within)s) ORDER BY created_at DESC OFFSET %(skip)s LIMIT 1",
        {"user": user_id, "purpose": purpose, "within": within_seconds, "skip": allowed - 1}).fetchone()
    return max(0, row["wait"]) if row else 0


def retire_unused(conn: psycopg.Connection, user_id: int, purpose: str) -> None:
    """A new link replaces the earlier ones of the same kind: only the latest works."""
    conn.execute("UPDATE account_tokens SET used_at = now(), token_sealed = NULL "
                 "WHERE user_id = %s AND purpose = %s AND used_at IS NULL", (user_id, purpose))


def lock_by_hash(conn: psycopg.Connection, token_hash: bytes) -> dict | None:
    """The link with this token hash, locked, with whether it is still usable (unused, unexpired)."""
    return conn.execute(
        "SELECT id, user_id, purpose, recipient, undoes, used_at IS NULL AND expires_at > now() AS usable "
        "FROM account_tokens WHERE token_hash = %s FOR UPDATE", (token_hash,)).fetchone()


def mark_used(conn: psycopg.Connection, token_id: int) -> None:
    conn.execute("UPDATE account_tokens SET used_at = now(), token_sealed = NULL WHERE id = %s", (token_id,))


def to_send(conn: psycopg.Connection, token_id: int) -> dict | None:
    """What the mail job needs: the sealed token (None once used or sent), its purpose and
    recipient, the customer's first name."""
    return conn.execute(
        "SELECT t.id, t.purpose, t.recipient, t.token_sealed, t.expires_at, c.first_name "
        "FROM account_tokens t JOIN customers c ON c.user_id = t.user_id "
        "WHERE t.id = %s AND t.used_at IS NULL AND t.expires_at > now()", (token_id,)).fetchone()


def forget_sealed(conn: psycopg.Connection, token_id: int) -> None:
    conn.execute("UPDATE account_tokens SET token_sealed = NULL WHERE id = %s", (token_id,))


def session_generation(conn: psycopg.Connection, user_id: int) -> int | None:
    """The generation a session must carry; None when the user is gone or disabled."""
    row = conn.execute("SELECT session_generation FROM users WHERE id = %s AND status = 'active'",
                       (user_id,)).fetchone()
    return row["session_generation"] if row else None


def set_password(conn: psycopg.Connection, user_id: int, password_hash: str) -> int:
    """New password hash and a new session generation (every earlier session ends); returns it."""
    return conn.execute(
        "UPDATE users SET password_hash = %s, must_change_password = false, "
        "session_generation = session_generation + 1 WHERE id = %s RETURNING session_generation",
        (password_hash, user_id)).fetchone()["session_generation"]


def password_hash_of(conn: psycopg.Connection, user_id: int) -> str | None:
    row = conn.execute("SELECT password_hash FROM users WHERE id = %s", (user_id,)).fetchone()
    return row["password_hash"] if row else None


def end_sessions(conn: psycopg.Connection, user_id: int) -> int:
    """A new session generation: every session issued before is refused at its next request."""
    return conn.execute("UPDATE users SET session_generation = session_generation + 1 WHERE id = %s "
                        "RETURNING session_generation", (user_id,)).fetchone()["session_generation"]


def set_email(conn: psycopg.Connection, user_id: int, email: str) -> str:
    """The new login email, every session ended; returns the address it replaced."""
    return conn.execute(
        "UPDATE users u SET email = %s, session_generation = u.session_generation + 1 FROM users old "
        "WHERE u.id = %s AND old.id = u.id RETURNING old.email", (email, user_id)).fetchone()["email"]


def keep_previous_email(conn: psycopg.Connection, token_id: int, email: str) -> None:
    conn.execute("UPDATE account_tokens SET previous_email = %s WHERE id = %s", (email, token_id))


def email_change_notice(conn: psycopg.Connection, token_id: int) -> dict | None:
    """What the old address is told after a confirmed change: both addresses and the first name."""
    return conn.execute(
        "SELECT t.id, t.recipient, t.previous_email, t.used_at, c.first_name "
        "FROM account_tokens t JOIN customers c ON c.user_id = t.user_id "
        "WHERE t.id = %s AND t.purpose = 'email_change' AND t.previous_email IS NOT NULL", (token_id,)).fetchone()


def undo_link_of(conn: psycopg.Connection, change_id: int) -> dict | None:
    """The undo link made when the email change `change_id` was confirmed: its sealed token
    (None once written into the notice or used) and when it expires."""
    return conn.execute("SELECT id, token_sealed, expires_at FROM account_tokens WHERE undoes = %s",
                        (change_id,)).fetchone()


def retire_after_undo(conn: psycopg.Connection, user_id: int, change_id: int) -> None:
    """Undoing a change retires every pending reset and email-change link, and the undo links of
    changes made after it (they would restore an address the intruder chose); an undo link of
    an earlier change still restores the owner's earlier address."""
    conn.execute("UPDATE account_tokens SET used_at = now(), token_sealed = NULL "
                 "WHERE user_id = %s AND used_at IS NULL AND (purpose IN ('password_reset', 'email_change') "
                 "OR (purpose = 'email_change_undo' AND undoes > %s))", (user_id, change_id))
