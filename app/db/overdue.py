"""What is owed and late (issue 28): the SQL of app/services/overdue.py, and the system-level
attention list (table system_attention, migration 0022)."""
from __future__ import annotations

import psycopg


def welcomes_overdue(conn: psycopg.Connection, minutes: float) -> list[dict]:
    """Paid subscriptions provisioned (their first successful `up`) more than `minutes` ago whose
    welcome email is not sent, not already flagged."""
    return conn.execute(
        """SELECT s.id, min(r.finished_at) AS ready_at
             FROM subscriptions s
             JOIN provisioning_runs r ON r.subscription_id = s.id AND r.operation = 'up' AND r.status = 'succeeded'
            WHERE s.status = 'active' AND s.provisioning_status = 'ready' AND s.needs_attention_since IS NULL
              AND NOT EXISTS (SELECT 1 FROM emails_sent e WHERE e.dedupe_key = 'welcome:' || s.id AND e.state = 'sent')
            GROUP BY s.id
           HAVING min(r.finished_at) < now() - make_interval(secs => %s * 60.0)""", (minutes,)).fetchall()


def jobs_doing_past(conn: psycopg.Connection, deadlines: dict[str, float], otherwise: float) -> list[dict]:
    """Jobs `doing` for longer than their queue's deadline in seconds (`otherwise` for other queues)."""
    return conn.execute(
        """SELECT j.id, j.task_name, j.queue_name, started.at AS started_at
             FROM procrastinate_jobs j
             JOIN LATERAL (SELECT max(e.at) AS at FROM procrastinate_events e
                            WHERE e.job_id = j.id AND e.type = 'started') started ON true
             LEFT JOIN (SELECT unnest(%s::text[]) AS queue_name, unnest(%s::float8[]) AS seconds) d
                    ON d.queue_name = j.queue_name
            WHERE j.status = 'doing'
              AND started.at < now() - make_interval(secs => coalesce(d.seconds, %s))""",
        (list(deadlines), [float(s) for s in deadlines.values()], otherwise)).fetchall()


def events_unprocessed_past(conn: psycopg.Connection, minutes: float) -> list[dict]:
    return conn.execute(
        "SELECT id, type, received_at FROM stripe_events WHERE processed_at IS NULL "
        "AND received_at < now() - make_interval(secs => %s * 60.0) ORDER BY received_at", (minutes,)).fetchall()


def periodic_tasks_failing(conn: psycopg.Connection, in_a_row: int) -> list[dict]:
    """Periodic tasks whose last `in_a_row` finished runs all failed."""
    return conn.execute(
        """WITH periodic AS (SELECT DISTINCT task_name FROM procrastinate_periodic_defers),
                last AS (
                    SELECT j.task_name, j.status,
                           row_number() OVER (PARTITION BY j.task_name ORDER BY j.id DESC) AS n
                      FROM procrastinate_jobs j JOIN periodic p ON p.task_name = j.task_name
                     WHERE j.status IN ('succeeded', 'failed'))
           SELECT task_name FROM last WHERE n <= %(k)s GROUP BY task_name
           HAVING count(*) = %(k)s AND bool_and(status = 'failed')""", {"k": in_a_row}).fetchall()


def raise_attention(conn: psycopg.Connection, key: str, reason: str) -> bool:
    """True when newly raised (an open one with this key stays as it is: raised once)."""
    return conn.execute(
        "INSERT INTO system_attention (key, reason) VALUES (%s, %s) "
        "ON CONFLICT (key) WHERE cleared_at IS NULL DO NOTHING RETURNING id", (key, reason)).fetchone() is not None


def clear_attention_except(conn: psycopg.Connection, open_keys: list[str]) -> int:
    """Whatever is no longer so is closed."""
    return conn.execute("UPDATE system_attention SET cleared_at = now() "
                        "WHERE cleared_at IS NULL AND NOT (key = ANY(%s))", (open_keys,)).rowcount


def open_attention(conn: psycopg.Connection, limit: int = 50) -> list[dict]:
    return conn.execute("SELECT key, reason, raised_at FROM system_attention WHERE cleared_at IS NULL "
                        "ORDER BY raised_at LIMIT %s", (limit,)).fetchall()
