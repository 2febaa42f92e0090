"""A billing or mail job whose end was never recorded (its worker's connection dropped just as
it finished, found by `mpanel chaos`) stays `doing` under a live worker: it is handed back to
its queue once it has been doing for longer than MPANEL_STUCK_JOB_SECONDS, and nothing else is."""
from __future__ import annotations

import dataclasses
import secrets

from app.services.hosting.workers import hand_back_stuck_jobs


def _doing_job(conn, queue: str, started_ago_s: int) -> int:
    # A task name no worker knows and a lock of its own: a worker that picks it up meanwhile
    # fails it without touching anything, and no real queue waits behind it.
    job_id = conn.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, args, status) "
        "VALUES (%s, 'test_stuck_job_never_registered', %s, '{}', 'doing') RETURNING id",
        (queue, f"test-stuck-{secrets.token_hex(4)}")).fetchone()["id"]
    conn.execute("INSERT INTO procrastinate_events (job_id, type, at) "
                 "VALUES (%s, 'started', now() - make_interval(secs => %s))", (job_id, started_ago_s))
    return job_id


def test_only_quick_queue_jobs_doing_for_too_long_are_handed_back(settings, db_conn):
    settings = dataclasses.replace(settings, MPANEL_STUCK_JOB_SECONDS=600)
    stuck_billing = _doing_job(db_conn, "billing", 1200)
    stuck_mail = _doing_job(db_conn, "mail", 1200)
    fresh_billing = _doing_job(db_conn, "billing", 30)
    long_converge = _doing_job(db_conn, "converge", 1200)  # engine runs have their own timeout
    ids = [stuck_billing, stuck_mail, fresh_billing, long_converge]
    try:
        assert hand_back_stuck_jobs(settings) >= 2
        status = {r["id"]: r["status"] for r in db_conn.execute(
            "SELECT id, status FROM procrastinate_jobs WHERE id = ANY(%s)", (ids,)).fetchall()}
        assert status[fresh_billing] == "doing" and status[long_converge] == "doing"
        # Handed back: procrastinate's retry counted an attempt (a worker may already have taken it).
        handed_back = db_conn.execute(
            "SELECT count(*) AS n FROM procrastinate_jobs WHERE id = ANY(%s) AND attempts = 1",
            ([stuck_billing, stuck_mail],)).fetchone()["n"]
        assert handed_back == 2
    finally:
        db_conn.execute("DELETE FROM procrastinate_jobs WHERE id = ANY(%s)", (ids,))
