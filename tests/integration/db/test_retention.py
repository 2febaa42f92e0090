"""Retention (app/services/retention.py): what is older than MPANEL_RETENTION_DAYS goes, in
batches; what is newer, unfinished or unprocessed stays, and so does every run."""
from __future__ import annotations

import dataclasses
import json
import secrets

import pytest

from app.services.retention import remove_old_records
from tests.factories import make_subscription


@pytest.fixture
def retention(settings):
    # A batch of 2 makes the few rows of each kind below take several transactions.
    return dataclasses.replace(settings, MPANEL_RETENTION_DAYS=30.0, MPANEL_RETENTION_BATCH=2)


def _job(db_conn, status: str, finished_days_ago: float) -> int:
    job_id = db_conn.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status) "
        "VALUES ('retention-test', 'retention_test', '{}', %s) RETURNING id", (status,)).fetchone()["id"]
    db_conn.execute("INSERT INTO procrastinate_events (job_id, type, at) VALUES "
                    "(%(id)s, 'deferred', now() - make_interval(days => %(days)s + 1)), "
                    "(%(id)s, 'started', now() - make_interval(secs => %(days)s * 86400))",
                    {"id": job_id, "days": finished_days_ago})
    return job_id


def _run_with_events(db_conn, sid: int, days_ago: float, events: int = 3) -> tuple[int, list[int]]:
    run_id = db_conn.execute(
        "INSERT INTO provisioning_runs (subscription_id, operation, status, started_at, finished_at) "
        "VALUES (%(sid)s, 'up', 'succeeded', now() - make_interval(secs => %(d)s * 86400), "
        "now() - make_interval(secs => %(d)s * 86400)) RETURNING id", {"sid": sid, "d": days_ago}).fetchone()["id"]
    ids = [db_conn.execute(
        "INSERT INTO provisioning_events (run_id, subscription_id, at, resource_name, status) "
        "VALUES (%s, %s, now() - make_interval(secs => %s * 86400), %s, 'done') RETURNING id",
        (run_id, sid, days_ago, f"res-{n}")).fetchone()["id"] for n in range(events)]
    return run_id, ids


def _stripe_event(db_conn, processed_days_ago: float | None, received_days_ago: float = 60) -> str:
    event_id = f"evt_retention_{secrets.token_hex(6)}"
    db_conn.execute(
        "INSERT INTO stripe_events (id, type, received_at, processed_at, payload) VALUES "
        "(%(id)s, 'invoice.paid', now() - make_interval(days => %(r)s), "
        " CASE WHEN %(p)s::float IS NULL THEN NULL ELSE now() - make_interval(secs => %(p)s * 86400) END, %(payload)s)",
        {"id": event_id, "r": received_days_ago, "p": processed_days_ago, "payload": json.dumps({"id": event_id})})
    return event_id


def _existing(db_conn, table: str, ids: list) -> set:
    return {r["id"] for r in db_conn.execute(f"SELECT id FROM {table} WHERE id = ANY(%s)", (ids,)).fetchall()}


def test_finished_jobs_older_than_the_limit_are_removed_and_the_rest_kept(db_conn, retention):
    old = [_job(db_conn, status, 31) for status in ("succeeded", "failed", "cancelled", "aborted", "succeeded")]
    recent = [_job(db_conn, "succeeded", 29), _job(db_conn, "failed", 1)]
    unfinished = [_job(db_conn, "todo", 40), _job(db_conn, "doing", 40)]
    try:
        removed = remove_old_records(retention)
        assert removed["jobs"] >= len(old)
        assert _existing(db_conn, "procrastinate_jobs", old) == set()
        assert db_conn.execute("SELECT count(*) AS n FROM procrastinate_events WHERE job_id = ANY(%s)",
                               (old,)).fetchone()["n"] == 0
        assert _existing(db_conn, "procrastinate_jobs", recent + unfinished) == set(recent + unfinished)
    finally:
        db_conn.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'retention-test'")


def test_a_finished_periodic_job_is_removed_with_its_defer_record_unlinked(db_conn, retention):
    job_id = _job(db_conn, "succeeded", 45)
    defer_id = db_conn.execute(
        "INSERT INTO procrastinate_periodic_defers (task_name, defer_timestamp, job_id, periodic_id) "
        "VALUES ('retention_test', %s, %s, '') RETURNING id", (secrets.randbelow(10 ** 9), job_id)).fetchone()["id"]
    try:
        remove_old_records(retention)
        assert _existing(db_conn, "procrastinate_jobs", [job_id]) == set()
        assert db_conn.execute("SELECT job_id FROM procrastinate_periodic_defers WHERE id = %s",
                               (defer_id,)).fetchone()["job_id"] is None
    finally:
        db_conn.execute("DELETE FROM procrastinate_periodic_defers WHERE id = %s", (defer_id,))
        db_conn.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'retention-test'")


def test_old_provisioning_events_are_removed_and_every_run_is_kept(db_conn, settings, retention):
    sid = make_subscription(db_conn, settings)
    old_run, old_events = _run_with_events(db_conn, sid, 31, events=5)
    new_run, new_events = _run_with_events(db_conn, sid, 29)

    remove_old_records(retention)

    assert _existing(db_conn, "provisioning_events", old_events) == set()
    assert _existing(db_conn, "provisioning_events", new_events) == set(new_events)
    assert _existing(db_conn, "provisioning_runs", [old_run, new_run]) == {old_run, new_run}


def test_processed_stripe_events_older_than_the_limit_go_and_unprocessed_ones_stay(db_conn, retention):
    old = [_stripe_event(db_conn, 31) for _ in range(3)]
    recent = _stripe_event(db_conn, 29)
    unprocessed = _stripe_event(db_conn, None, received_days_ago=90)
    try:
        remove_old_records(retention)
        assert _existing(db_conn, "stripe_events", old) == set()
        assert _existing(db_conn, "stripe_events", [recent, unprocessed]) == {recent, unprocessed}
    finally:
        db_conn.execute("DELETE FROM stripe_events WHERE id LIKE 'evt_retention_%'")


def test_stripe_event_ids_outlive_stripes_redelivery_window_whatever_the_setting(db_conn, retention):
    two_days = _stripe_event(db_conn, 2)
    try:
        remove_old_records(dataclasses.replace(retention, MPANEL_RETENTION_DAYS=1.0))
        assert _existing(db_conn, "stripe_events", [two_days]) == {two_days}
    finally:
        db_conn.execute("DELETE FROM stripe_events WHERE id LIKE 'evt_retention_%'")


def test_the_daily_task_is_registered_on_the_maintenance_queue():
    from app.jobs import tasks
    from app.jobs.queue import queue

    assert tasks.remove_old_records.queue == "maintenance"
    assert any(p.task.name == "remove_old_records" for p in queue.periodic_registry.periodic_tasks.values())
