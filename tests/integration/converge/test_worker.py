"""The queue: one waiting job and one running operation per subscription; failures classified."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from app import db
from app.jobs import defer as jobs
from app.services.hosting.errors import PermanentConvergeError
from tests.polling import wait_for as _wait_for
from tests.factories import make_subscription, unique_domain


@pytest.fixture
def queue(queue):
    with queue.open() as app:
        yield app


def request_converge(settings, sid) -> bool:
    with db.transaction(settings.DATABASE_URL) as conn:
        return jobs.request_converge(conn, sid)


@pytest.fixture
def worker(settings):
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--concurrency", "2"])
    yield proc
    proc.terminate()
    proc.wait(60)


def _jobs(db_conn, sid):
    return db_conn.execute("SELECT id, status FROM procrastinate_jobs WHERE lock = %s ORDER BY id",
                           (f"sub-{sid}",)).fetchall()


def test_a_burst_of_requests_collapses_into_one_waiting_job(db_conn, settings, queue):
    sid = make_subscription(db_conn, settings, status="pending_payment")
    results = [request_converge(settings, sid) for _ in range(5)]
    assert results == [True, False, False, False, False]
    assert [j["status"] for j in _jobs(db_conn, sid)] == ["todo"]
    db_conn.execute("DELETE FROM procrastinate_jobs WHERE lock = %s", (f"sub-{sid}",))


def test_the_worker_converges_and_never_runs_two_operations_on_one_stack(db_conn, settings, queue, worker, servers):
    domain = unique_domain("queued")
    sid = make_subscription(db_conn, settings, domain=domain)
    assert request_converge(settings, sid)
    _wait_for(lambda: any(j["status"] == "doing" for j in _jobs(db_conn, sid)), 60, "the first run to start")
    assert request_converge(settings, sid), "a second converge may wait while the first runs"

    most_running = 0
    give_up = time.monotonic() + 180
    while time.monotonic() < give_up:
        statuses = [j["status"] for j in _jobs(db_conn, sid)]
        most_running = max(most_running, statuses.count("doing"))
        if statuses and all(s in ("succeeded", "failed") for s in statuses):
            break
        time.sleep(0.05)
    assert most_running == 1
    assert [j["status"] for j in _jobs(db_conn, sid)] == ["succeeded", "succeeded"]
    status = db_conn.execute("SELECT provisioning_status FROM subscriptions WHERE id = %s", (sid,)).fetchone()
    assert status["provisioning_status"] == "ready"
    assert len(servers.whm_accounts_for(domain)) == 1

    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    request_converge(settings, sid)
    _wait_for(lambda: db_conn.execute("SELECT provisioning_status FROM subscriptions WHERE id = %s",
                                      (sid,)).fetchone()["provisioning_status"] == "destroyed", 120, "destroy")


def test_an_unavailable_domain_fails_permanently_with_the_reason_shown(db_conn, settings, converger):
    domain = unique_domain("taken")
    requests.post(f"{settings.NAMESILO_API_URL.rsplit('/api', 1)[0]}/_sandbox/unavailable", json={"domain": domain},
                  timeout=10).raise_for_status()
    sid = make_subscription(db_conn, settings, domain=domain, mode="new_registration")
    with pytest.raises(PermanentConvergeError, match=domain):
        converger.converge(sid)
    row = db_conn.execute("SELECT provisioning_status, provisioning_error FROM subscriptions WHERE id = %s",
                          (sid,)).fetchone()
    assert row["provisioning_status"] == "failed"
    assert domain in row["provisioning_error"] and "not available" in row["provisioning_error"]
    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    converger.converge(sid)
