"""What the customer's billing page and plan changes read: their subscription's Stripe ids,
plan and allowance use, and the catalogue they can move within."""
from __future__ import annotations

import psycopg


def billing_site(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    """An order (not abandoned; whose it is: app/services/customers/sites.py) with its Stripe ids,
    plan and mailboxes in use (admin@ included)."""
    return conn.execute(
        """SELECT s.id, s.status, s.billing_cycle, s.cancel_at_period_end, s.current_period_end,
                  s.stripe_subscription_id, s.stripe_customer_id, s.test_mode,
                  p.id AS plan_id, p.slug AS plan_slug, p.name AS plan, p.mailbox_count, d.name AS domain,
                  1 + (SELECT count(*) FROM mailboxes m
                        WHERE m.subscription_id = s.id AND m.local_part <> 'admin') AS mailboxes_used
             FROM subscriptions s
             JOIN plans p ON p.id = s.plan_id
             LEFT JOIN domains d ON d.subscription_id = s.id
            WHERE s.id = %s AND s.status <> 'abandoned'""", (subscription_id,)).fetchone()


def catalogue(conn: psycopg.Connection) -> list[dict]:
    """The plans on sale, cheapest first."""
    return conn.execute("SELECT * FROM plans WHERE active ORDER BY price_monthly_cents, id").fetchall()
