"""What the sync report compares a server with: the stacks mpanel keeps (SQL only)."""
from __future__ import annotations

import psycopg

# A stack whose account should exist on a server: placed, paid once, not yet terminated.
_HAS_ACCOUNT = "s.status NOT IN ('terminated', 'abandoned', 'pending_payment')"


def stacks_on(conn: psycopg.Connection, server_id: int) -> list[dict]:
    """Each subscription whose account should be on the server, with what WHM should show."""
    return conn.execute(f"""
        SELECT s.id AS subscription_id, s.status, p.whm_package, p.slug AS plan,
               d.name AS domain, w.cpanel_username, host(w.ip_address) AS ip_address
          FROM subscriptions s
          JOIN plans p ON p.id = s.plan_id
          JOIN domains d ON d.subscription_id = s.id AND d.status <> 'released'
          LEFT JOIN websites w ON w.subscription_id = s.id
         WHERE s.server_id = %s AND {_HAS_ACCOUNT}
         ORDER BY s.id""", (server_id,)).fetchall()


def live_domains(conn: psycopg.Connection) -> dict[str, int]:
    """Every domain name an order holds (not released) -> its subscription."""
    return {r["name"]: r["subscription_id"] for r in conn.execute(
        "SELECT name, subscription_id FROM domains WHERE status <> 'released'").fetchall()}


def live_stacks(conn: psycopg.Connection) -> set[str]:
    """The stack names ("sub-42") of every subscription that may still hold something upstream."""
    return {f"sub-{r['id']}" for r in conn.execute(
        "SELECT id FROM subscriptions WHERE status NOT IN ('abandoned', 'pending_payment') "
        "AND provisioning_status <> 'destroyed'").fetchall()}
