"""Is this the user's site: the one query every customer-facing service asks first."""
from __future__ import annotations

import psycopg

_OWNED = """SELECT s.id, s.status
              FROM subscriptions s JOIN customers c ON c.id = s.customer_id
             WHERE s.id = %s AND c.user_id = %s AND s.status <> 'abandoned'"""


def owned(conn: psycopg.Connection, user_id: int, subscription_id: int, *, lock: bool = False) -> dict | None:
    """The user's order (never an abandoned checkout): id and billing status; None when it is not
    theirs. `lock` holds its subscription row until the transaction ends (a change to the site's
    desired state, with the converge it requests)."""
    return conn.execute(_OWNED + (" FOR UPDATE OF s" if lock else ""), (subscription_id, user_id)).fetchone()
