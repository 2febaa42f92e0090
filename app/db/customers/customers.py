"""Customers and the users they log in as."""
from __future__ import annotations

import psycopg

_DETAILS = ("first_name", "last_name", "company", "phone", "country")


def lock_user_by_email(conn: psycopg.Connection, email: str) -> dict | None:
    """The user with this email (any case) and their customer id, locked: id, password_hash, status, customer_id."""
    return conn.execute("SELECT u.id, u.password_hash, u.status, c.id AS customer_id FROM users u "
                        "JOIN customers c ON c.user_id = u.id WHERE lower(u.email) = lower(%s) FOR UPDATE OF u",
                        (email,)).fetchone()


def user_by_email(conn: psycopg.Connection, email: str) -> dict | None:
    """id, password_hash and status of the user with this email (any case)."""
    return conn.execute("SELECT id, password_hash, status FROM users WHERE lower(email) = lower(%s)",
                        (email,)).fetchone()


def email_taken(conn: psycopg.Connection, email: str, except_user: int | None = None) -> bool:
    """Some user (other than `except_user`) logs in with this email."""
    return conn.execute("SELECT 1 FROM users WHERE lower(email) = lower(%s) AND id IS DISTINCT FROM %s",
                        (email, except_user)).fetchone() is not None


def lock_subscriptions(conn: psycopg.Connection, customer_id: int) -> list[dict]:
    """The customer's orders, oldest first, locked: id, status, stripe_checkout_session_id, stripe_customer_id."""
    return conn.execute("SELECT id, status, stripe_checkout_session_id, stripe_customer_id FROM subscriptions "
                        "WHERE customer_id = %s ORDER BY id FOR UPDATE", (customer_id,)).fetchall()


def insert_user(conn: psycopg.Connection, email: str, password_hash: str) -> int:
    return conn.execute("INSERT INTO users (email, password_hash) VALUES (%s, %s) RETURNING id",
                        (email, password_hash)).fetchone()["id"]


def insert_customer(conn: psycopg.Connection, user_id: int, details: dict) -> int:
    return conn.execute(
        "INSERT INTO customers (user_id, first_name, last_name, company, phone, country) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (user_id, *(details[k] for k in _DETAILS))).fetchone()["id"]


def update_details(conn: psycopg.Connection, customer_id: int, details: dict) -> None:
    conn.execute("UPDATE customers SET first_name = %s, last_name = %s, company = %s, phone = %s, country = %s "
                 "WHERE id = %s", (*(details[k] for k in _DETAILS), customer_id))


def set_password_hash(conn: psycopg.Connection, user_id: int, password_hash: str) -> None:
    conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id))


def record_login(conn: psycopg.Connection, user_id: int) -> None:
    conn.execute("UPDATE users SET last_login_at = now() WHERE id = %s", (user_id,))


def profile(conn: psycopg.Connection, user_id: int) -> dict | None:
    return conn.execute("SELECT c.first_name, c.last_name, u.email FROM customers c "
                        "JOIN users u ON u.id = c.user_id WHERE u.id = %s", (user_id,)).fetchone()


def sites(conn: psycopg.Connection, user_id: int) -> list[dict]:
    """Every order of the user's that was not abandoned, with what the dashboard shows of it."""
    return conn.execute(
        """SELECT s.id, s.status, s.provisioning_status, s.billing_cycle, s.current_period_end,
                  s.cancel_at_period_end, s.suspended_by, s.suspend_reason, s.past_due_since, s.failed_payment, p.name AS plan, d.name AS domain, d.mode AS domain_mode,
                  d.status AS domain_status, w.status AS website_status, w.cpanel_url, w.cpanel_username,
                  w.ssl_expires_at, d.expires_at AS domain_expires_at, d.card_lapses_before_renewal,
                  (d.control_proven_at IS NULL AND d.control_claimed_at IS NULL) AS control_waiting, coalesce(w.ip_address, sv.ip_address) AS server_ip,
                  ARRAY(SELECT m.local_part || '@' || d.name FROM mailboxes m
                         WHERE m.subscription_id = s.id AND m.local_part <> 'admin'
                         ORDER BY m.local_part) AS extra_mailboxes, p.mailbox_count
             FROM subscriptions s
             JOIN customers c ON c.id = s.customer_id
             JOIN plans p ON p.id = s.plan_id
             LEFT JOIN servers sv ON sv.id = s.server_id
             LEFT JOIN domains d ON d.subscription_id = s.id
             LEFT JOIN websites w ON w.subscription_id = s.id
            WHERE c.user_id = %s AND s.status <> 'abandoned'
            ORDER BY s.id""", (user_id,)).fetchall()


def awaits_onboarding(conn: psycopg.Connection, user_id: int) -> bool:
    """Not onboarded yet, and at least one site ready."""
    return conn.execute(
        """SELECT 1 FROM users u JOIN customers c ON c.user_id = u.id
             JOIN subscriptions s ON s.customer_id = c.id
            WHERE u.id = %s AND u.onboarded_at IS NULL AND s.provisioning_status = 'ready'
            LIMIT 1""", (user_id,)).fetchone() is not None


def finish_onboarding(conn: psycopg.Connection, user_id: int) -> None:
    conn.execute("UPDATE users SET onboarded_at = coalesce(onboarded_at, now()) WHERE id = %s", (user_id,))
