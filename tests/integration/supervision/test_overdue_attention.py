"""Nothing owed stays silent (issue 28): a paid, provisioned order without its welcome email,
a job `doing` past its deadline, a Stripe event unprocessed past its deadline and a periodic
task failing three times in a row each raise "needs attention" once, with the reason, shown on
the console's overview."""
from __future__ import annotations

import dataclasses
import json
import secrets

import pytest

from app.services.operators import console
from app.services.overdue import raise_overdue
from tests.factories import make_subscription


@pytest.fixture
def overdue_settings(settings):
    # Floats, as Settings reads them from the environment (an int here once hid a SQL type error).
    return dataclasses.replace(settings, MPANEL_WELCOME_DEADLINE_MINUTES=10.0, MPANEL_STUCK_JOB_SECONDS=600.0)


def _provisioned(db_conn, settings, minutes_ago: float) -> int:
    sid = make_subscription(db_conn, settings)
    db_conn.execute("UPDATE subscriptions SET provisioning_status = 'ready' WHERE id = %s", (sid,))
    db_conn.execute("INSERT INTO provisioning_runs (subscription_id, operation, status, started_at, finished_at) "
                    "VALUES (%s, 'up', 'succeeded', now() - make_interval(mins => %s + 1), "
                    "now() - make_interval(mins => %s))", (sid, minutes_ago, minutes_ago))
    return sid


def _open(db_conn, key: str) -> list[dict]:
    return db_conn.execute("SELECT reason FROM system_attention WHERE key = %s AND cleared_at IS NULL",
                           (key,)).fetchall()


def test_a_provisioned_order_without_its_welcome_email_after_the_deadline_is_flagged_once(
        overdue_settings, db_conn):
    late = _provisioned(db_conn, overdue_settings, minutes_ago=11)
    recent = _provisioned(db_conn, overdue_settings, minutes_ago=5)
    welcomed = _provisioned(db_conn, overdue_settings, minutes_ago=11)
    db_conn.execute("INSERT INTO emails_sent (subscription_id, kind, dedupe_key, recipient, subject) "
                    "VALUES (%s, 'welcome', %s, 'x@example.com', 'Welcome')", (welcomed, f"welcome:{welcomed}"))

    raise_overdue(overdue_settings)
    raise_overdue(overdue_settings)

    flagged = {r["id"]: r for r in db_conn.execute(
        "SELECT id, needs_attention_since, provisioning_error FROM subscriptions WHERE id = ANY(%s)",
        ([late, recent, welcomed],)).fetchall()}
    assert flagged[late]["needs_attention_since"] is not None
    assert "welcome email was not sent within 10 minutes" in flagged[late]["provisioning_error"]
    assert flagged[recent]["needs_attention_since"] is None and flagged[welcomed]["needs_attention_since"] is None
    alerts = db_conn.execute("SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'send_attention_alert' "
                             "AND args->>'subscription_id' = %s", (str(late),)).fetchone()["n"]
    assert alerts == 1  # the operators are told once
    assert late in [a["id"] for a in console.overview(overdue_settings)["attention"]]
    db_conn.execute("DELETE FROM procrastinate_jobs WHERE queueing_lock = %s", (f"attention-{late}",))


def test_a_job_doing_past_its_deadline_is_listed_once_and_leaves_the_list_when_it_ends(overdue_settings, db_conn):
    job = db_conn.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, lock, args, status) "
                          "VALUES ('mail', 'test_overdue_job_never_registered', %s, '{}', 'doing') RETURNING id",
                          (f"test-overdue-{secrets.token_hex(4)}",)).fetchone()["id"]
    db_conn.execute("INSERT INTO procrastinate_events (job_id, type, at) VALUES (%s, 'started', now() - interval '30 min')",
                    (job,))
    try:
        raise_overdue(overdue_settings)
        raise_overdue(overdue_settings)
        [row] = _open(db_conn, f"job:{job}")
        assert "test_overdue_job_never_registered" in row["reason"] and "past its deadline" in row["reason"]
        assert f"job:{job}" in [a["key"] for a in console.overview(overdue_settings)["system_attention"]]

        db_conn.execute("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = %s", (job,))
        raise_overdue(overdue_settings)
        assert _open(db_conn, f"job:{job}") == []
    finally:
        db_conn.execute("DELETE FROM procrastinate_jobs WHERE id = %s", (job,))


def test_a_stripe_event_unprocessed_past_its_deadline_is_listed(overdue_settings, db_conn):
    event_id = f"evt_overdue_{secrets.token_hex(6)}"
    db_conn.execute("INSERT INTO stripe_events (id, type, created, payload, received_at) "
                    "VALUES (%s, 'invoice.paid', now(), %s, now() - interval '45 min')",
                    (event_id, json.dumps({"id": event_id})))
    try:
        raise_overdue(overdue_settings)
        [row] = _open(db_conn, f"event:{event_id}")
        assert event_id in row["reason"] and "unprocessed" in row["reason"]
    finally:
        db_conn.execute("DELETE FROM stripe_events WHERE id = %s", (event_id,))
        raise_overdue(overdue_settings)


def test_a_periodic_task_that_failed_three_times_in_a_row_is_listed_until_it_succeeds(overdue_settings, db_conn):
    task = f"test_periodic_{secrets.token_hex(4)}"
    db_conn.execute("INSERT INTO procrastinate_periodic_defers (task_name, defer_timestamp) VALUES (%s, 0)", (task,))
    ids = [db_conn.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, args, status) "
                           "VALUES ('maintenance', %s, '{}', %s) RETURNING id", (task, status)).fetchone()["id"]
           for status in ("succeeded", "failed", "failed")]
    try:
        raise_overdue(overdue_settings)
        assert _open(db_conn, f"periodic:{task}") == []  # two in a row are not three

        ids.append(db_conn.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, args, status) "
                                   "VALUES ('maintenance', %s, '{}', 'failed') RETURNING id", (task,)).fetchone()["id"])
        raise_overdue(overdue_settings)
        [row] = _open(db_conn, f"periodic:{task}")
        assert row["reason"] == f"periodic task {task} failed 3 times in a row"

        ids.append(db_conn.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, args, status) "
                                   "VALUES ('maintenance', %s, '{}', 'succeeded') RETURNING id", (task,)).fetchone()["id"])
        raise_overdue(overdue_settings)
        assert _open(db_conn, f"periodic:{task}") == []
    finally:
        db_conn.execute("DELETE FROM procrastinate_periodic_defers WHERE task_name = %s", (task,))
        db_conn.execute("DELETE FROM procrastinate_jobs WHERE id = ANY(%s)", (ids,))


def test_the_console_overview_shows_the_system_list_with_its_reasons(overdue_settings):
    from flask import render_template

    from app import create_app

    app = create_app(overdue_settings, open_queue=False)
    shown = dict(console.overview(overdue_settings))
    shown["system_attention"] = [{"key": "periodic:retry_stalled_jobs", "reason": "periodic task retry_stalled_jobs "
                                  "failed 3 times in a row", "raised_at": __import__("datetime").datetime(2025, 1, 1)}]
    with app.test_request_context("/ops/"):
        page = render_template("ops/overview.html", **shown, billing_states=console.BILLING_STATES,
                               stack_states=console.STACK_STATES)
    assert "System needs attention (1)" in page and "retry_stalled_jobs failed 3 times in a row" in page
