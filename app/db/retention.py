"""Removing records whose time is over, one bounded batch per call (app/services/retention.py loops).

Each query deletes at most `limit` rows, oldest first, and skips rows another transaction
holds, so a large backlog is worked through in short transactions that never wait on, or
block for long, the workers writing new rows.
"""
from __future__ import annotations

from datetime import timedelta

import psycopg

# procrastinate's final states: a job in one of them never runs again.
FINISHED_JOB_STATUSES = ("succeeded", "failed", "cancelled", "aborted")


def delete_finished_jobs(conn: psycopg.Connection, older_than: timedelta, limit: int) -> int:
    """Jobs finished before now - older_than. A job's last event (procrastinate_events, removed
    with it by its foreign key's cascade) says when it finished; its periodic-defer record is
    unlinked by procrastinate's own trigger."""
    cur = conn.execute(
        """DELETE FROM procrastinate_jobs
            WHERE id IN (
                SELECT j.id FROM procrastinate_jobs j
                 WHERE j.status = ANY(%(statuses)s::procrastinate_job_status[])
                   AND (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id)
                       < now() - %(age)s::interval
                 ORDER BY j.id
                 LIMIT %(limit)s
                 FOR UPDATE OF j SKIP LOCKED)""",
        {"statuses": list(FINISHED_JOB_STATUSES), "age": older_than, "limit": limit})
    return cur.rowcount


def delete_provisioning_events(conn: psycopg.Connection, older_than: timedelta, limit: int) -> int:
    """Per-resource engine events; the runs they belong to (provisioning_runs) stay."""
    cur = conn.execute(
        """DELETE FROM provisioning_events
            WHERE id IN (
                SELECT id FROM provisioning_events
                 WHERE at < now() - %(age)s::interval
                 ORDER BY at
                 LIMIT %(limit)s
                 FOR UPDATE SKIP LOCKED)""",
        {"age": older_than, "limit": limit})
    return cur.rowcount


def delete_processed_stripe_events(conn: psycopg.Connection, older_than: timedelta, limit: int) -> int:
    """Stripe events processed before now - older_than; an unprocessed one is never removed."""
    cur = conn.execute(
        """DELETE FROM stripe_events
            WHERE id IN (
                SELECT id FROM stripe_events
                 WHERE processed_at IS NOT NULL AND processed_at < now() - %(age)s::interval
                 ORDER BY processed_at
                 LIMIT %(limit)s
                 FOR UPDATE SKIP LOCKED)""",
        {"age": older_than, "limit": limit})
    return cur.rowcount
