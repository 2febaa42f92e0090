"""Every path a killed worker process can leave, each finished exactly once by the next sweep
(issue 28, item 3).

Each test starts a real worker process (tests/integration/supervision/paused_worker.py: one
lane of `mpanel worker`, with a pause patched in at the exact point), waits until it is there,
SIGKILLs it, and checks the state the kill left. Only then does time pass, the one thing a
test cannot wait for: procrastinate's worker heartbeat is made older than the stalled-job
sweep's minute (and an email claim older than its timeout), as a killed worker's would be.
Then the real sweeps run (the every-minute `retry_stalled_jobs`, and the heartbeat's
`recover_dead_workers`), a fresh worker drains the queue, and each piece of work is found done
once: the email sent once, the event processed once, the periodic task run once, the run
recorded once.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys

import pytest

from app.services.hosting import workers
from tests.factories import make_subscription, suspended_with_stripe_update
from tests.integration.mail.outbox import Outbox
from tests.polling import wait_for


@pytest.fixture
def worker_at(tmp_path, queue):
    """worker_at(queues, pause_at, ...) -> a real worker process paused (not yet killed) at `pause_at`."""
    started = []

    def start(queues: str, pause_at: str | None = None, *extra: str, drain: bool = False) -> subprocess.Popen:
        marker = tmp_path / f"paused-{len(started)}"
        argv = [sys.executable, "-m", "tests.integration.supervision.paused_worker", "--queues", queues, *extra]
        if pause_at:
            argv += ["--pause-at", pause_at, "--marker", str(marker)]
        if drain:
            argv.append("--drain")
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        proc.log_path = log.name
        started.append(proc)
        if drain:
            assert proc.wait(120) == 0, open(log.name).read()[-3000:]
        elif pause_at:
            wait_for(lambda: marker.exists() or proc.poll() is not None, 60, f"the worker to reach {pause_at}")
            assert proc.poll() is None, open(log.name).read()[-3000:]
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)


def time_passes(conn, job_ids: list[int]) -> None:
    """What a minute and more after the kill leaves: the dead worker's procrastinate heartbeat is old."""
    conn.execute("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '10 minutes' "
                 "WHERE id IN (SELECT worker_id FROM procrastinate_jobs WHERE id = ANY(%s))", (job_ids,))


def next_sweep(settings) -> None:
    """What a live worker does within the next minute: its heartbeat's recovery of dead workers'
    runs, and the every-minute `retry_stalled_jobs` (which also hands back stuck billing and mail jobs)."""
    from app.jobs.queue import queue
    from app.jobs.tasks import retry_stalled_jobs

    workers.recover_dead_workers(settings)

    async def run():
        async with queue.app.open_async():
            return await retry_stalled_jobs(0)
    asyncio.run(run())


def drain_twice(settings, worker_at, queue: str, *args: str) -> None:
    """A worker drains what the sweep put back, then again after the next sweep: the second finds nothing."""
    worker_at(queue, None, *args, drain=True)
    next_sweep(settings)
    worker_at(queue, None, *args, drain=True)


def handed_back_and_done(settings, db_conn, worker_at, job: int, queue: str, *args: str) -> None:
    """The sweep hands the killed job back (`todo`), and a fresh worker finishes it (`succeeded`)."""
    next_sweep(settings)
    assert job_status(db_conn, job) == "todo"
    drain_twice(settings, worker_at, queue, *args)
    assert job_status(db_conn, job) == "succeeded"


def job_status(conn, job_id: int) -> str:
    return conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,)).fetchone()["status"]


def only_job(conn, task: str, args: dict) -> int:
    [row] = conn.execute("SELECT id FROM procrastinate_jobs WHERE task_name = %s AND args = %s::jsonb",
                         (task, json.dumps(args))).fetchall()
    return row["id"]


def request(settings, how, *args) -> None:
    from app import db

    with db.transaction(settings.DATABASE_URL) as conn:
        assert how(conn, *args)


@pytest.fixture
def others_put_off(db_conn):
    """put_off(queue, job): other tests' jobs waiting in `queue` are not due while this test runs
    (the paused worker must take this test's job first); they are due again afterwards."""
    moved = []

    def put_off(queue_name: str, job: int) -> None:
        moved.extend(r["id"] for r in db_conn.execute(
            "UPDATE procrastinate_jobs SET scheduled_at = now() + interval '1 day' "
            "WHERE queue_name = %s AND status = 'todo' AND id <> %s AND scheduled_at IS NULL RETURNING id",
            (queue_name, job)).fetchall())

    yield put_off
    db_conn.execute("UPDATE procrastinate_jobs SET scheduled_at = NULL WHERE id = ANY(%s)", (moved,))


def test_the_billing_and_mail_worker_killed_while_sending_a_welcome_email(settings, db_conn, worker_at, others_put_off):
    from app.jobs.defer import request_welcome_email

    sid = make_subscription(db_conn, settings)
    request(settings, request_welcome_email, sid)
    job = only_job(db_conn, "send_welcome_email", {"subscription_id": sid})
    others_put_off("mail", job)
    kill(worker_at("mail", "app.mail:deliver", "--engine", "fake"))

    # The kill: the job `doing`, the email claimed and not sent.
    assert job_status(db_conn, job) == "doing"
    claim = db_conn.execute("SELECT state FROM emails_sent WHERE dedupe_key = %s", (f"welcome:{sid}",)).fetchall()
    assert [c["state"] for c in claim] == ["sending"]
    time_passes(db_conn, [job])
    db_conn.execute("UPDATE emails_sent SET claimed_at = now() - interval '1 day' WHERE dedupe_key = %s",
                    (f"welcome:{sid}",))

    handed_back_and_done(settings, db_conn, worker_at, job, "mail", "--engine", "fake")
    email = db_conn.execute("SELECT u.email FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
                            "JOIN users u ON u.id = c.user_id WHERE s.id = %s", (sid,)).fetchone()["email"]
    assert len(Outbox(settings.SMTP_MAILDIR).wait_for(email, deadline_seconds=5)) == 1
    rows = db_conn.execute("SELECT state FROM emails_sent WHERE dedupe_key = %s", (f"welcome:{sid}",)).fetchall()
    assert [r["state"] for r in rows] == ["sent"]


def test_the_billing_and_mail_worker_killed_while_processing_a_stripe_event(settings, db_conn, worker_at):
    # Recorded, and its processing queued, as the webhook does.
    sid, _, event = suspended_with_stripe_update(db_conn, settings, "killed")
    job = only_job(db_conn, "process_stripe_event", {"event_id": event["id"]})
    try:
        # Killed while it asks Stripe what the subscription is now (its transaction not yet begun).
        kill(worker_at("billing", "app.services.orders.lifecycle:billing.retrieve_subscription"))

        assert job_status(db_conn, job) == "doing"  # and holding the billing lock every billing job waits on
        assert db_conn.execute("SELECT processed_at FROM stripe_events WHERE id = %s",
                               (event["id"],)).fetchone()["processed_at"] is None
        time_passes(db_conn, [job])

        handed_back_and_done(settings, db_conn, worker_at, job, "billing", "--stripe-subscription", "active")
        assert db_conn.execute("SELECT processed_at FROM stripe_events WHERE id = %s",
                               (event["id"],)).fetchone()["processed_at"] is not None
        assert db_conn.execute("SELECT status FROM subscriptions WHERE id = %s", (sid,)).fetchone()["status"] == "active"
        # Processed once: the one converge it decided, and no billing job left holding the lock.
        assert db_conn.execute("SELECT count(*) AS n FROM procrastinate_jobs WHERE lock = %s",
                               (f"sub-{sid}",)).fetchone()["n"] == 1
        assert db_conn.execute("SELECT count(*) AS n FROM procrastinate_jobs WHERE lock = 'billing' "
                               "AND status = 'doing'").fetchone()["n"] == 0
    finally:
        db_conn.execute("DELETE FROM procrastinate_jobs WHERE lock = %s AND status = 'todo'", (f"sub-{sid}",))


def _periodic_tasks() -> dict[str, str]:
    """Each periodic task and the queue it runs on."""
    from app.jobs.queue import queue

    return dict(sorted((p.task.name, p.task.queue) for p in queue.app.periodic_registry.periodic_tasks.values()))


def test_the_billing_and_mail_worker_killed_while_running_each_periodic_task(settings, db_conn, worker_at, tmp_path,
                                                                            others_put_off):
    queues = _periodic_tasks()
    names = list(queues)
    assert len(names) >= 10 and "retry_stalled_jobs" in names
    ran = tmp_path / "ran"
    jobs = {}
    for name, queue_name in queues.items():
        # As the periodic deferrer queues it: the task, its queue, the minute as its argument.
        stamp = secrets.randbelow(10**9) + 10**9
        jobs[name] = (stamp, db_conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status) "
            "VALUES (%s, %s, %s, 'todo') RETURNING id",
            (queue_name, name, json.dumps({"timestamp": stamp}))).fetchone()["id"])
        # Any other job it meets first is only counted (elsewhere): it pauses in this one.
        others_put_off(queue_name, jobs[name][1])
        kill(worker_at(queue_name, f"app.jobs.tasks:{name}.func", "--count-periodic", str(tmp_path / "other")))
        assert job_status(db_conn, jobs[name][1]) == "doing", name
    time_passes(db_conn, [job for _, job in jobs.values()])

    next_sweep(settings)
    assert {name: job_status(db_conn, job) for name, (_, job) in jobs.items()} == {name: "todo" for name in names}
    # The bodies are counted, not run: what each does is tested on its own; here, that it runs once.
    for queue_name in sorted(set(queues.values())):
        drain_twice(settings, worker_at, queue_name, "--count-periodic", str(ran))

    assert {name: job_status(db_conn, job) for name, (_, job) in jobs.items()} == {name: "succeeded" for name in names}
    runs = ran.read_text().split()
    for name, (stamp, _) in jobs.items():
        assert runs.count(f"{name}@{stamp}") == 1, name


@pytest.fixture
def converged_with_a_fake_engine(settings, db_conn):
    """A paid order whose converge is queued; its queued emails are removed afterwards."""
    from app.jobs.defer import request_converge

    # Converges other tests left queued (an import converges in-process and leaves its job) wait an
    # hour: the worker started here must take this one.
    db_conn.execute("UPDATE procrastinate_jobs SET scheduled_at = now() + interval '1 hour' "
                    "WHERE status = 'todo' AND task_name = 'converge_subscription'")
    sid = make_subscription(db_conn, settings)
    request(settings, request_converge, sid)
    yield sid, only_job(db_conn, "converge_subscription", {"subscription_id": sid})
    db_conn.execute("DELETE FROM procrastinate_jobs WHERE status = 'todo' AND args = %s::jsonb",
                    (json.dumps({"subscription_id": sid}),))


def _runs(conn, sid: int) -> list[str]:
    return [r["status"] for r in conn.execute("SELECT status FROM provisioning_runs WHERE subscription_id = %s "
                                              "ORDER BY id", (sid,)).fetchall()]


def _converge_recovered(settings, db_conn, worker_at, sid: int, job: int) -> None:
    time_passes(db_conn, [job])
    handed_back_and_done(settings, db_conn, worker_at, job, "converge", "--engine", "fake")
    assert db_conn.execute("SELECT provisioning_status FROM subscriptions WHERE id = %s",
                           (sid,)).fetchone()["provisioning_status"] == "ready"
    # The welcome it owes, queued once.
    assert db_conn.execute("SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'send_welcome_email' "
                           "AND args = %s::jsonb", (json.dumps({"subscription_id": sid}),)).fetchone()["n"] == 1


def test_a_converge_worker_killed_between_taking_its_job_and_starting_its_run(settings, db_conn, worker_at,
                                                                              converged_with_a_fake_engine):
    sid, job = converged_with_a_fake_engine
    kill(worker_at("converge", "app.services.hosting.converge:Converger._start", "--engine", "fake"))
    assert job_status(db_conn, job) == "doing" and _runs(db_conn, sid) == []

    _converge_recovered(settings, db_conn, worker_at, sid, job)
    assert _runs(db_conn, sid) == ["succeeded"]


def test_a_converge_worker_killed_after_its_run_before_recording_its_end(settings, db_conn, worker_at,
                                                                         converged_with_a_fake_engine):
    sid, job = converged_with_a_fake_engine
    kill(worker_at("converge", "app.services.hosting.converge:Converger._finish", "--engine", "fake"))
    assert job_status(db_conn, job) == "doing" and _runs(db_conn, sid) == ["running"]

    _converge_recovered(settings, db_conn, worker_at, sid, job)
    # The killed run is closed as interrupted, and the run that finished the stack is recorded once.
    assert _runs(db_conn, sid) == ["failed", "succeeded"]
