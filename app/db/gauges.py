"""What /metrics reads from the database at scrape time: a handful of cheap counts, each on an
index or a small table (the queue's waiting jobs, open flags, the workers' rows)."""
from __future__ import annotations

import psycopg


def waiting_jobs(conn: psycopg.Connection) -> list[dict]:
    """Per queue: jobs due and not taken, and how long the oldest has waited (seconds). A job
    waiting for its retry time is not due yet; it has waited since that time, not since deferred."""
    return conn.execute(
        """SELECT j.queue_name AS queue, count(*) AS depth,
                  coalesce(extract(epoch FROM now() - min(coalesce(j.scheduled_at, d.at))), 0) AS oldest_seconds
             FROM procrastinate_jobs j
             LEFT JOIN LATERAL (SELECT min(e.at) AS at FROM procrastinate_events e
                                 WHERE e.job_id = j.id AND e.type = 'deferred') d ON true
            WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
            GROUP BY j.queue_name""").fetchall()


def needing_attention(conn: psycopg.Connection) -> dict:
    return conn.execute(
        """SELECT (SELECT count(*) FROM subscriptions WHERE needs_attention_since IS NOT NULL) AS orders,
                  (SELECT count(*) FROM system_attention WHERE cleared_at IS NULL) AS system""").fetchone()


def workers_alive(conn: psycopg.Connection, dead_after_seconds: float) -> int:
    return conn.execute("SELECT count(*) AS n FROM workers WHERE last_heartbeat > now() - make_interval(secs => %s)",
                        (dead_after_seconds,)).fetchone()["n"]


def runs_in_flight(conn: psycopg.Connection) -> list[dict]:
    return conn.execute("SELECT operation, count(*) AS n FROM provisioning_runs WHERE status = 'running' "
                        "GROUP BY operation").fetchall()
