"""Websites: the hosting account a subscription's converge built (cPanel, TLS)."""
from __future__ import annotations

import psycopg


def count_cpanel_password_reset(conn: psycopg.Connection, user_id: int, subscription_id: int) -> bool:
    """One more cPanel password reset on this user's active site; False when it is not theirs or not active."""
    return conn.execute(
        """UPDATE websites w SET cpanel_password_resets = w.cpanel_password_resets + 1, updated_at = now()
             FROM subscriptions s JOIN customers c ON c.id = s.customer_id
            WHERE w.subscription_id = s.id AND s.id = %s AND c.user_id = %s
              AND s.status = 'active' AND w.status = 'active'
        RETURNING w.id""", (subscription_id, user_id)).fetchone() is not None
