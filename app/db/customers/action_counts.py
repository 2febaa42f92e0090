"""Per-customer counters of panel actions that spend an upstream's quota (customers.limits)."""
from __future__ import annotations

import psycopg


def count_use(conn: psycopg.Connection, user_id: int, action: str, window_seconds: int) -> int | None:
    """One more use in the current fixed window; the uses so far including this one (None: no
    such customer). A single statement: parallel requests each get their own number."""
    row = conn.execute(
        """INSERT INTO customer_action_counts (customer_id, action, window_start, uses)
           SELECT c.id, %(action)s,
                  to_timestamp(floor(extract(epoch FROM now()) / %(window)s) * %(window)s), 1
             FROM customers c WHERE c.user_id = %(user)s
           ON CONFLICT (customer_id, action, window_start)
           DO UPDATE SET uses = customer_action_counts.uses + 1
           RETURNING uses, window_start""",
        {"action": action, "window": window_seconds, "user": user_id}).fetchone()
    return None if row is None else row["uses"]


def forget_before(conn: psycopg.Connection, seconds: int) -> int:
    """Drop windows older than this (retention)."""
    return conn.execute("DELETE FROM customer_action_counts WHERE window_start < now() - make_interval(secs => %s)",
                        (seconds,)).rowcount



def count_keyed_use(conn: psycopg.Connection, action: str, key: str, window_seconds: int) -> dict:
    """The same count for someone not logged in, by what they are known by (an email address,
    a client address), in a window that starts at its first use (not at the clock's hour, so
    that no burst straddles two windows at once): {"uses": including this one, "window_end",
    "now"}. A single statement, so parallel requests each get their own number."""
    return conn.execute(
        """INSERT INTO keyed_action_counts AS k (action, key, window_start, uses)
           VALUES (%(action)s, %(key)s, now(), 1)
           ON CONFLICT (action, key) DO UPDATE SET
                  uses = CASE WHEN k.window_start > now() - make_interval(secs => %(window)s) THEN k.uses + 1 ELSE 1 END,
                  window_start = CASE WHEN k.window_start > now() - make_interval(secs => %(window)s)
                                      THEN k.window_start ELSE now() END
           RETURNING uses, window_start + make_interval(secs => %(window)s) AS window_end, now() AS now""",
        {"action": action, "key": key, "window": window_seconds}).fetchone()
