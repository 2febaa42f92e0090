"""Handing a job its worker can no longer finish back to the queue, one job at a time.

Found by `mpanel chaos`: a killed converge worker left job 339 `doing` while job 340, a
`todo` converge of the same subscription, held its queueing lock `sub-47`. Putting 339 back
to `todo` broke the unique queueing-lock index, and because every stalled job was handed back
in one loop, that one exception stopped the recovery of every stuck job in the system (a
welcome email among them), every minute. So each job is handed back in a savepoint of its
own, a failure is logged with the job and the sweep goes on; and a job whose waiting
duplicate already holds the queueing lock is closed instead: the duplicate does the same
work (a converge reads the latest state; its run recovers the stack first), and closing it
frees the lock the duplicate waits behind.
"""
from __future__ import annotations

import logging
from typing import Iterable

import psycopg
from psycopg import errors

from app import db
from app.db.hosting import workers as rows
from app.settings import Settings

log = logging.getLogger("mpanel.workers")

RETRIED, CLOSED = "retried", "closed"


def hand_back(conn: psycopg.Connection, job_id: int, why: str) -> str | None:
    """Put one `doing` job back in its queue, or close it when a waiting duplicate holds its
    queueing lock. None when it is no longer `doing` (nothing to do). Runs in a savepoint:
    the caller's transaction survives a failure here."""
    with conn.transaction():
        job = rows.doing_job(conn, job_id)
        if job is None:
            return None
        try:
            with conn.transaction():
                rows.retry_job(conn, job_id)
            log.warning("job %s (%s) handed back to its queue: %s", job_id, job["task_name"], why)
            return RETRIED
        except errors.UniqueViolation:  # a `todo` job with the same queueing lock is waiting
            rows.close_job(conn, job_id)
            log.warning("job %s (%s) closed: %s, and a waiting job (queueing lock %s) does the same work",
                        job_id, job["task_name"], why, job["queueing_lock"])
            return CLOSED


def hand_back_each(conn: psycopg.Connection, job_ids: Iterable[int], why: str) -> int:
    """Every job handed back on its own: one that fails is logged with its id and skipped
    (the next sweep tries it again). Returns how many were handed back or closed."""
    done = 0
    for job_id in job_ids:
        try:
            if hand_back(conn, job_id, why) is not None:
                done += 1
        except psycopg.OperationalError:
            raise  # the connection is gone: nothing more can be done in this sweep
        except Exception:
            log.exception("job %s: handing it back failed (%s); going on with the others", job_id, why)
    return done


def hand_back_stalled_jobs(settings: Settings, job_ids: Iterable[int]) -> int:
    """Jobs whose worker stopped heartbeating (procrastinate's stalled jobs), each on its own."""
    with db.transaction(settings.DATABASE_URL) as conn:
        return hand_back_each(conn, job_ids, "its worker stopped heartbeating")
