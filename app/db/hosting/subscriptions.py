"""Subscriptions: the rows billing decisions read and change (app/services/orders/lifecycle.py, checkout)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

import psycopg
from psycopg.types.json import Jsonb

# Columns the lifecycle may set through `update` (anything else is a programming error).
UPDATABLE = frozenset({"status", "stripe_subscription_id", "stripe_customer_id", "cancel_at_period_end",
                       "current_period_end", "past_due_since", "terminate_after", "plan_id", "billing_cycle",
                       "provisioning_error", "failed_payment", "suspended_by", "suspend_reason"})


def lock(conn: psycopg.Connection, *, stripe_id: str | None = None, session_id: str | None = None) -> dict | None:
    """The subscription row, locked for update, found by a Stripe id stored on it: the checkout
    session we created for it, or the Stripe subscription that session created. Never by our own
    id as a Stripe object repeats it (client_reference_id, metadata): the payer controls those."""
    for column, value in (("stripe_subscription_id", stripe_id), ("stripe_checkout_session_id", session_id)):
        if value and isinstance(value, str):
            row = conn.execute(f"SELECT * FROM subscriptions WHERE {column} = %s FOR UPDATE", (value,)).fetchone()
            if row:
                return row
    return None


def lock_by_id(conn: psycopg.Connection, subscription_id: int) -> None:
    """Hold the subscription's row until the caller's transaction ends (a decision made on it
    is not raced by billing or staff)."""
    conn.execute("SELECT 1 FROM subscriptions WHERE id = %s FOR UPDATE", (subscription_id,))


def named_by_stripe(conn: psycopg.Connection, ids: Iterable[int]) -> list[dict]:
    """The orders a Stripe object's payer-controlled fields name (read, never acted on): only to
    tell a person that someone named them."""
    return conn.execute("SELECT id, status, stripe_checkout_session_id, stripe_subscription_id FROM subscriptions "
                        "WHERE id = ANY(%s) ORDER BY id", (list(ids),)).fetchall()


def update(conn: psycopg.Connection, subscription_id: int, changes: dict[str, Any]) -> None:
    """Set these columns (and updated_at) on one subscription."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"not a lifecycle column: {', '.join(sorted(unknown))}")
    sets = ", ".join(f"{k} = %({k})s" for k in changes)
    conn.execute(f"UPDATE subscriptions SET {sets}{', ' if sets else ''}updated_at = now() WHERE id = %(sid)s",
                 {**changes, "sid": subscription_id})


def set_status(conn: psycopg.Connection, subscription_id: int, status: str) -> None:
    conn.execute("UPDATE subscriptions SET status = %s, updated_at = now() WHERE id = %s", (status, subscription_id))


def remember_checkout(conn: psycopg.Connection, subscription_id: int, customer_id: str | None) -> None:
    """The Stripe customer of the order's own paid checkout."""
    conn.execute("UPDATE subscriptions SET stripe_customer_id = coalesce(%s, stripe_customer_id) WHERE id = %s",
                 (customer_id, subscription_id))


def record_suspension(conn: psycopg.Connection, subscription_id: int, suspended_by: str, reason: str) -> None:
    """Who suspended the subscription and why: shown to the customer, passed to WHM's suspendacct."""
    conn.execute("UPDATE subscriptions SET suspended_by = %s, suspend_reason = %s, updated_at = now() WHERE id = %s",
                 (suspended_by, reason, subscription_id))


def record_failed_payment(conn: psycopg.Connection, subscription_id: int, failed: dict) -> None:
    """The renewal payment that failed, as the dunning notices quote it (amount, reason, pay link)."""
    conn.execute("UPDATE subscriptions SET failed_payment = %s, updated_at = now() WHERE id = %s",
                 (Jsonb(failed), subscription_id))


def set_checkout_session(conn: psycopg.Connection, subscription_id: int, session_id: str) -> None:
    conn.execute("UPDATE subscriptions SET stripe_checkout_session_id = %s, updated_at = now() WHERE id = %s",
                 (session_id, subscription_id))


def latest_of_stripe_customer(conn: psycopg.Connection, stripe_customer_id: str) -> int | None:
    row = conn.execute("SELECT id FROM subscriptions WHERE stripe_customer_id = %s ORDER BY id DESC LIMIT 1",
                       (stripe_customer_id,)).fetchone()
    return row["id"] if row else None


def database_now(conn: psycopg.Connection) -> dt.datetime:
    """The database's clock (the transaction's start): the one clock billing dates are set from
    and compared with. Python's clock runs ahead of it within a transaction, so a date set from
    Python with no grace period would not yet be due by the database's `now()`."""
    return conn.execute("SELECT now() AS now").fetchone()["now"]


def waiting_on_deadlines(conn: psycopg.Connection, statuses: Iterable[str], only: int | None = None) -> list[dict]:
    """Rows whose status ends with a deadline, locked (compare their dates with `database_now`)."""
    return conn.execute(
        "SELECT id, status, past_due_since, terminate_after, billed_externally FROM subscriptions "
        "WHERE status = ANY(%(statuses)s) AND (%(only)s::bigint IS NULL OR id = %(only)s) ORDER BY id FOR UPDATE",
        {"statuses": list(statuses), "only": only}).fetchall()


def abandon_unpaid(conn: psycopg.Connection, subscription_id: int) -> bool:
    """pending_payment -> abandoned, releasing its pending domain; False when it was not waiting for payment."""
    if conn.execute("UPDATE subscriptions SET status = 'abandoned', updated_at = now() "
                    "WHERE id = %s AND status = 'pending_payment' RETURNING id", (subscription_id,)).fetchone() is None:
        return False
    conn.execute("UPDATE domains SET status = 'released', updated_at = now() "
                 "WHERE subscription_id = %s AND status = 'pending'", (subscription_id,))
    return True


def progress(conn: psycopg.Connection, *, subscription_id: int | None = None,
             session_id: str | None = None) -> dict | None:
    """What the progress page shows of one subscription, by our id or its checkout session id."""
    return conn.execute(
        """SELECT s.id, s.status, s.provisioning_status, s.provisioning_error, s.created_at, s.activated_at,
                  d.name AS domain, d.mode AS domain_mode, d.status AS domain_status,
                  w.status AS website_status, w.cpanel_url, w.ssl_expires_at
             FROM subscriptions s
             LEFT JOIN domains d ON d.subscription_id = s.id
             LEFT JOIN websites w ON w.subscription_id = s.id
            WHERE (%(id)s::bigint IS NOT NULL AND s.id = %(id)s)
               OR (%(session)s::text IS NOT NULL AND s.stripe_checkout_session_id = %(session)s)
            ORDER BY d.id DESC LIMIT 1""", {"id": subscription_id, "session": session_id}).fetchone()


def latest_run_steps(conn: psycopg.Connection, subscription_id: int) -> list[dict]:
    """The last event of each resource in the subscription's latest run."""
    return conn.execute(
        """SELECT DISTINCT ON (e.resource_name) e.resource_name, e.resource_type, e.op, e.status, e.at,
                  e.duration_ms
             FROM provisioning_events e
            WHERE e.run_id = (SELECT max(id) FROM provisioning_runs WHERE subscription_id = %s)
              AND e.resource_name IS NOT NULL
            ORDER BY e.resource_name, e.id DESC""", (subscription_id,)).fetchall()


# --- termination with a way back (retention, backups, taking an order back) ----------------

def retained_order(conn: psycopg.Connection, customer_id: int, domain: str) -> dict | None:
    """The customer's canceled order for `domain` whose stack is still kept (its retention has
    not ended), locked: the order a returning customer's new payment takes back."""
    return conn.execute(
        """SELECT s.* FROM subscriptions s JOIN domains d ON d.subscription_id = s.id
            WHERE s.customer_id = %s AND d.name = %s AND d.status <> 'released' AND s.status = 'canceled'
            ORDER BY s.id DESC LIMIT 1 FOR UPDATE OF s""", (customer_id, domain)).fetchone()


def terminated_order_before(conn: psycopg.Connection, subscription_id: int) -> list[int]:
    """The same customer's terminated orders for the domain of `subscription_id`, placed before
    it, newest first: whose backups a returning customer's new order takes back."""
    return [r["id"] for r in conn.execute(
        """SELECT DISTINCT o.id FROM subscriptions s
             JOIN domains d ON d.subscription_id = s.id
             JOIN domains od ON od.name = d.name
             JOIN subscriptions o ON o.id = od.subscription_id
            WHERE s.id = %s AND o.customer_id = s.customer_id AND o.id < s.id AND o.status = 'terminated'
            ORDER BY o.id DESC""", (subscription_id,)).fetchall()]


def hosting_account(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    """What names the subscription's cPanel account: the username recorded by its last successful
    run (None before one), its domain and the customer's email (the account's contact)."""
    return conn.execute(
        """SELECT s.id, s.status, s.stripe_subscription_id, w.cpanel_username, d.name AS domain, u.email,
                  coalesce(w.server_id, s.server_id) AS server_id
             FROM subscriptions s
             JOIN customers c ON c.id = s.customer_id
             JOIN users u ON u.id = c.user_id
             LEFT JOIN websites w ON w.subscription_id = s.id
             LEFT JOIN domains d ON d.subscription_id = s.id AND d.status <> 'released'
            WHERE s.id = %s ORDER BY d.id DESC LIMIT 1""", (subscription_id,)).fetchone()


def flag(conn: psycopg.Connection, subscription_id: int, reason: str) -> bool:
    """The subscription needs an operator, with why (a failed move, the order holding a domain
    another proves, a welcome overdue); True when newly flagged."""
    row = conn.execute(
        """UPDATE subscriptions s SET needs_attention_since = coalesce(s.needs_attention_since, now()),
                  provisioning_error = %s, updated_at = now()
             FROM subscriptions before WHERE s.id = %s AND before.id = s.id
         RETURNING before.needs_attention_since IS NULL AS first""", (reason, subscription_id)).fetchone()
    return bool(row and row["first"])
