"""Websites: the hosting account a subscription's converge built (cPanel, TLS)."""
from __future__ import annotations

import psycopg


def count_cpanel_password_reset(conn: psycopg.Connection, subscription_id: int) -> bool:
    """One more cPanel password reset on an active site; False when it is not active."""
    return conn.execute(
        """UPDATE websites w SET cpanel_password_resets = w.cpanel_password_resets + 1, updated_at = now()
             FROM subscriptions s
            WHERE w.subscription_id = s.id AND s.id = %s AND s.status = 'active' AND w.status = 'active'
        RETURNING w.id""", (subscription_id,)).fetchone() is not None


def login_target(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    """The hosting account a one-click cPanel or Webmail login opens (whose site it is:
    app/services/customers/sites.py): billing and hosting states (to refuse a suspended one with
    its reason), the cPanel user and the server the account lives on."""
    return conn.execute(
        """SELECT s.id, s.status, s.past_due_since, s.suspended_by, s.suspend_reason, s.server_id,
                  w.status AS website_status,
                  w.cpanel_username, d.name AS domain
             FROM subscriptions s
             LEFT JOIN websites w ON w.subscription_id = s.id
             LEFT JOIN domains d ON d.subscription_id = s.id
            WHERE s.id = %s AND s.status <> 'abandoned'""", (subscription_id,)).fetchone()


def record_account_suspension(conn: psycopg.Connection, subscription_id: int, suspended: bool) -> None:
    """The account's suspension as its server has it (WHM's own suspension or its lifting: app/services/hosting/whm_suspensions.py)."""
    conn.execute("UPDATE websites SET status = %s, updated_at = now() WHERE subscription_id = %s "
                 "AND status IN ('active', 'suspended')", ("suspended" if suspended else "active", subscription_id))
