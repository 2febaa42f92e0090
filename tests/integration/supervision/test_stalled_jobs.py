"""One stalled job cannot stop the recovery of the others (issue 28, found by `mpanel chaos`).

A killed converge worker left its converge `doing` while a `todo` converge of the same
subscription held the queueing lock `sub-N`: handing the first back to `todo` broke the unique
queueing-lock index, and that one exception ended every sweep before a stuck welcome email
was ever handed back. Each job is now handed back on its own, and the stalled converge is
closed (its waiting duplicate does the same work), which frees the lock the duplicate waits on.
"""
from __future__ import annotations

import asyncio
import secrets

import pytest

from app.services.hosting import workers
from tests.factories import make_subscription, provisioned_outputs
from tests.integration.mail.outbox import Outbox


def _job(conn, task: str, queue: str, status: str, args: dict, *, lock=None, queueing_lock=None) -> int:
    """A job as procrastinate holds it; `doing` with no worker id: its worker was killed and pruned."""
    import json

    return conn.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args, status) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (queue, task, lock, queueing_lock, json.dumps(args), status)).fetchone()["id"]


def _status(conn, *ids) -> list[str]:
    found = {r["id"]: r["status"] for r in conn.execute(
        "SELECT id, status FROM procrastinate_jobs WHERE id = ANY(%s)", (list(ids),)).fetchall()}
    return [found.get(i) for i in ids]


@pytest.fixture
def the_pair_and_a_stuck_welcome(settings, db_conn, queue):
    """Issue 28's state: converge 339 `doing` (worker killed) + converge 340 `todo` with the
    same queueing lock, and a welcome email `doing` in a killed billing-and-mail worker."""
    sid = make_subscription(db_conn, settings)
    lock = f"sub-{sid}"
    stalled = _job(db_conn, "converge_subscription", "converge", "doing", {"subscription_id": sid},
                   lock=lock, queueing_lock=lock)
    waiting = _job(db_conn, "converge_subscription", "converge", "todo", {"subscription_id": sid},
                   lock=lock, queueing_lock=lock)
    welcome = _job(db_conn, "send_welcome_email", "mail", "doing", {"subscription_id": sid},
                   queueing_lock=f"welcome-{sid}")
    yield sid, stalled, waiting, welcome
    db_conn.execute("DELETE FROM procrastinate_jobs WHERE id = ANY(%s)", ([stalled, waiting, welcome],))


def _sweep() -> int:
    """One run of the every-minute `retry_stalled_jobs` task, as a worker runs it."""
    from app.jobs.queue import queue
    from app.jobs.tasks import retry_stalled_jobs

    async def run():
        async with queue.app.open_async():
            return await retry_stalled_jobs(0)
    return asyncio.run(run())


def _run_mail_jobs() -> None:
    """A billing-and-mail worker: runs what the mail queue holds, then stops."""
    from app.jobs.queue import queue

    async def run():
        async with queue.app.open_async():
            await queue.app.run_worker_async(queues=["mail"], wait=False, install_signal_handlers=False)
    asyncio.run(run())


@pytest.fixture
def outputs_of_a_provisioned_stack(monkeypatch, db_conn):
    """The welcome email reads the stack's secret outputs; these stand for a provisioned stack's."""
    class Stack:
        def outputs(self, subscription_id: int) -> dict:
            domain = db_conn.execute("SELECT name FROM domains WHERE subscription_id = %s",
                                     (subscription_id,)).fetchone()["name"]
            return provisioned_outputs(domain)
    monkeypatch.setattr("app.services.hosting.welcome_logins.stack_operations", lambda settings: Stack())


def test_a_stalled_converge_with_a_waiting_duplicate_does_not_stop_the_stuck_welcome_email(
        settings, db_conn, queue, the_pair_and_a_stuck_welcome, outputs_of_a_provisioned_stack):
    sid, stalled, waiting, welcome = the_pair_and_a_stuck_welcome

    assert _sweep() >= 2

    # The stalled converge is closed, its duplicate waits with nothing holding its lock, the email is owed again.
    assert _status(db_conn, stalled, waiting, welcome) == ["aborted", "todo", "todo"]
    assert db_conn.execute("SELECT count(*) AS n FROM procrastinate_jobs WHERE lock = %s AND status = 'doing'",
                           (f"sub-{sid}",)).fetchone()["n"] == 0

    _run_mail_jobs()
    _sweep()  # a later sweep finds nothing of these left to hand back
    _run_mail_jobs()

    email = db_conn.execute("SELECT u.email FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
                            "JOIN users u ON u.id = c.user_id WHERE s.id = %s", (sid,)).fetchone()["email"]
    assert len(Outbox(settings.SMTP_MAILDIR).wait_for(email, deadline_seconds=5)) == 1
    assert db_conn.execute("SELECT count(*) AS n FROM emails_sent WHERE dedupe_key = %s",
                           (f"welcome:{sid}",)).fetchone()["n"] == 1
    assert _status(db_conn, stalled, waiting, welcome) == ["aborted", "todo", "succeeded"]


def test_a_dead_workers_run_whose_job_has_a_waiting_duplicate_is_recovered_with_the_others(
        settings, db_conn, the_pair_and_a_stuck_welcome):
    """The heartbeat sweep (recover_dead_workers) hands jobs back the same way: the pair does not
    end its transaction, the run is marked interrupted (the duplicate's run repairs the stack)."""
    sid, stalled, waiting, welcome = the_pair_and_a_stuck_welcome
    dead_worker = secrets.randbelow(2**31 - 2) + 1  # no row: nobody alive behind it
    run = db_conn.execute("INSERT INTO provisioning_runs (subscription_id, operation, worker_id, job_id) "
                          "VALUES (%s, 'up', %s, %s) RETURNING id", (sid, dead_worker, stalled)).fetchone()["id"]

    assert workers.recover_dead_workers(settings) >= 1

    assert db_conn.execute("SELECT status FROM provisioning_runs WHERE id = %s", (run,)).fetchone()["status"] == "failed"
    assert _status(db_conn, stalled, waiting) == ["aborted", "todo"]


def test_a_job_that_cannot_be_handed_back_is_logged_and_the_others_still_are(settings, db_conn, caplog,
                                                                              the_pair_and_a_stuck_welcome):
    from app import db
    from app.services.hosting.stalled_jobs import hand_back_each

    sid, stalled, waiting, welcome = the_pair_and_a_stuck_welcome
    with db.transaction(settings.DATABASE_URL) as conn:
        handed = hand_back_each(conn, ["not a job id", welcome], "a test")
    assert handed == 1
    assert _status(db_conn, welcome) == ["todo"]
    assert "job not a job id: handing it back failed" in caplog.text
