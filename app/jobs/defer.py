"""Enqueueing inside the caller's transaction: desired state and "look again" commit together.

A service that changes a subscription's desired state asks for its converge on the same
connection, before its transaction commits, so the request can never be lost between a
commit and a separate enqueue (the straggler sweep stays only as a safety net). This
calls procrastinate's own SQL function, exactly what `Task.defer` runs, so the job is the
same job, with the same lock and queueing lock, and its insert trigger wakes the workers.
"""
from __future__ import annotations

import json

import psycopg
from psycopg import errors

CONVERGE_TASK, CONVERGE_QUEUE = "converge_subscription", "converge"


def subscription_lock(subscription_id: int) -> str:
    return f"sub-{subscription_id}"


def defer_in(conn: psycopg.Connection, task_name: str, queue: str, args: dict, *, lock: str | None = None,
             queueing_lock: str | None = None) -> bool:
    """Enqueue `task_name(**args)` in `conn`'s transaction; False when a job holding the same
    queueing lock is already waiting (that job will read the latest state anyway)."""
    try:
        with conn.transaction():  # a savepoint: a queueing-lock conflict must not undo the caller's work
            conn.execute(
                "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(%s, %s, 0, %s, %s, %s::jsonb, NULL)"
                "::procrastinate_job_to_defer_v1])",
                (queue, task_name, lock, queueing_lock, json.dumps(args)))
        return True
    except errors.UniqueViolation:
        return False


def request_converge_in(conn: psycopg.Connection, subscription_id: int) -> bool:
    """Ask the worker to look at this subscription again, as part of the caller's transaction."""
    lock = subscription_lock(subscription_id)
    return defer_in(conn, CONVERGE_TASK, CONVERGE_QUEUE, {"subscription_id": subscription_id},
                    lock=lock, queueing_lock=lock)


def request_event_processing_in(conn: psycopg.Connection, event_id: str) -> bool:
    """Process a recorded Stripe event; billing decisions run one at a time (lock "billing")."""
    return defer_in(conn, "process_stripe_event", "billing", {"event_id": event_id},
                    lock="billing", queueing_lock=f"evt-{event_id}")


def request_lifecycle_email_in(conn: psycopg.Connection, subscription_id: int, kind: str) -> bool:
    """A notice (suspended, reactivated, canceled) about one subscription, queued once per kind."""
    return defer_in(conn, "send_lifecycle_email", "mail", {"subscription_id": subscription_id, "kind": kind},
                    queueing_lock=f"mail-{kind}-{subscription_id}")
