"""Desired state and "look again" commit together: a job exists exactly when its service's
transaction committed (app/jobs/defer.py, used by app/services/*)."""
from __future__ import annotations

import secrets

import pytest

from app import db
from app.jobs.defer import request_converge
from app.services.orders import lifecycle
from app.services.orders.checkout import start_checkout
from tests.factories import make_subscription, unique_domain


@pytest.fixture
def jobs(db_conn):
    """jobs(**where) -> the procrastinate jobs this test created matching where (column = value);
    every job and made-up Stripe event the test created is deleted afterwards, so no later worker runs it."""
    marker = db_conn.execute("SELECT coalesce(max(id), 0) AS id FROM procrastinate_jobs").fetchone()["id"]

    def created(**where) -> list[dict]:
        conditions = "".join(f" AND {column} = %({column})s" for column in where)
        return db_conn.execute(f"SELECT * FROM procrastinate_jobs WHERE id > %(marker)s{conditions} ORDER BY id",
                               {"marker": marker, **where}).fetchall()

    yield created
    db_conn.execute("DELETE FROM procrastinate_jobs WHERE id > %s AND status = 'todo'", (marker,))
    # Its made-up events would otherwise be asked for again by the sweep of unprocessed events,
    # and fail against Stripe, in whichever worker runs next on this database.
    db_conn.execute("DELETE FROM stripe_events WHERE id LIKE 'evt_tx_%%' AND processed_at IS NULL")


def _stripe_says_active(monkeypatch, sid: int) -> None:
    monkeypatch.setattr(lifecycle.billing, "retrieve_subscription", lambda settings, stripe_id: {
        "id": stripe_id, "status": "active", "customer": "cus_test", "cancel_at_period_end": False,
        "items": {"data": [{"price": {"id": "price_unknown"}, "current_period_end": 1900000000}]}})


def _suspended_subscription_with_event(db_conn, settings) -> tuple[int, dict]:
    sid = make_subscription(db_conn, settings, status="suspended")
    db_conn.execute("UPDATE subscriptions SET stripe_subscription_id = %s WHERE id = %s", (f"sub_tx_{sid}", sid))
    event = {"id": f"evt_tx_{secrets.token_hex(6)}", "type": "customer.subscription.updated", "created": 0,
             "data": {"object": {"id": f"sub_tx_{sid}", "metadata": {}}}}
    return sid, event


def test_recording_a_webhook_event_requests_its_processing_once_however_often_it_arrives(settings, jobs):
    event = {"id": f"evt_tx_{secrets.token_hex(6)}", "type": "invoice.paid", "created": 0,
             "data": {"object": {}}}
    assert lifecycle.record_event(settings, event) == (True, True)
    assert lifecycle.record_event(settings, event) == (False, True)
    waiting = jobs(task_name="process_stripe_event")
    assert [j["args"] for j in waiting] == [{"event_id": event["id"]}]
    assert waiting[0]["queueing_lock"] == f"evt-{event['id']}" and waiting[0]["lock"] == "billing"


def _an_event() -> dict:
    return {"id": f"evt_tx_{secrets.token_hex(6)}", "type": "invoice.paid", "created": 0, "data": {"object": {}}}


def test_a_processed_event_delivered_again_is_acknowledged_and_asks_for_nothing(settings, jobs):
    event = _an_event()
    lifecycle.record_event(settings, event)
    with db.transaction(settings.DATABASE_URL) as conn:
        conn.execute("DELETE FROM procrastinate_jobs WHERE queueing_lock = %s", (f"evt-{event['id']}",))
        conn.execute("UPDATE stripe_events SET processed_at = now() WHERE id = %s", (event["id"],))

    assert lifecycle.record_event(settings, event) == (False, False)
    assert jobs(task_name="process_stripe_event") == []


def test_a_first_delivery_whose_processing_already_waits_is_recorded_with_that_one_job(settings, db_conn, jobs):
    # The one-statement path fails whole when the queueing lock is held (here: a job left
    # waiting for an id whose event row is gone); the transaction path then records it.
    event = _an_event()
    lifecycle.record_event(settings, event)
    db_conn.execute("DELETE FROM stripe_events WHERE id = %s", (event["id"],))

    assert lifecycle.record_event(settings, event) == (True, True)
    assert db_conn.execute("SELECT count(*) AS n FROM stripe_events WHERE id = %s",
                           (event["id"],)).fetchone()["n"] == 1
    assert [j["args"] for j in jobs(task_name="process_stripe_event")] == [{"event_id": event["id"]}]


def test_the_first_delivery_statement_records_nothing_when_its_job_cannot_be_asked_for(settings, db_conn, jobs):
    import psycopg

    from app.db.orders import stripe_events
    from app.jobs.defer import stripe_event_processing

    event = _an_event()
    lifecycle.record_event(settings, event)
    db_conn.execute("DELETE FROM stripe_events WHERE id = %s", (event["id"],))

    with db.single_statements(settings.DATABASE_URL) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        stripe_events.record_new(conn, event, stripe_event_processing(event["id"], None))
    assert db_conn.execute("SELECT count(*) AS n FROM stripe_events WHERE id = %s",
                           (event["id"],)).fetchone()["n"] == 0


def test_an_event_that_reactivates_requests_one_converge_and_one_notice_in_its_transaction(
        db_conn, settings, jobs, monkeypatch):
    sid, event = _suspended_subscription_with_event(db_conn, settings)
    _stripe_says_active(monkeypatch, sid)
    lifecycle.record_event(settings, event)

    outcome = lifecycle.process_event(settings, event["id"])

    assert outcome.converge == {sid} and outcome.emails == [(sid, "reactivated")]
    converges = jobs(task_name="converge_subscription", lock=f"sub-{sid}")
    assert len(converges) == 1 and converges[0]["queueing_lock"] == f"sub-{sid}"
    assert [j["args"] for j in jobs(task_name="send_lifecycle_email")] == [{"subscription_id": sid,
                                                                            "kind": "reactivated"}]


def test_an_event_whose_transaction_rolls_back_leaves_no_job_and_no_change(db_conn, settings, jobs, monkeypatch):
    sid, event = _suspended_subscription_with_event(db_conn, settings)
    _stripe_says_active(monkeypatch, sid)
    lifecycle.record_event(settings, event)

    def mail_queue_down(conn, subscription_id, kind):  # fails after the converge was requested
        raise RuntimeError("boom")
    monkeypatch.setattr(lifecycle, "request_lifecycle_email", mail_queue_down)

    with pytest.raises(RuntimeError):
        lifecycle.process_event(settings, event["id"])

    assert jobs(task_name="converge_subscription") == []
    assert db_conn.execute("SELECT status FROM subscriptions WHERE id = %s", (sid,)).fetchone()["status"] == "suspended"
    assert db_conn.execute("SELECT processed_at FROM stripe_events WHERE id = %s",
                           (event["id"],)).fetchone()["processed_at"] is None


def test_a_free_test_checkout_commits_with_exactly_one_converge_even_when_asked_again(settings, jobs):
    placed = start_checkout(settings, {
        "planSlug": "shared_student", "billingCycle": "monthly", "domain": unique_domain("txfree"),
        "domainMode": "external", "testMode": True, "promoCode": "TESTFREE",
        "customer": {"email": f"tx-{secrets.token_hex(4)}@example.net", "firstName": "Ada", "lastName": "Tx"},
        "account": {"password": "a-long-password-1"}})
    sid = placed["subscriptionId"]
    assert placed["status"] == "active"
    assert len(jobs(task_name="converge_subscription", lock=f"sub-{sid}")) == 1

    with db.transaction(settings.DATABASE_URL) as conn:
        assert request_converge(conn, sid) is False  # the waiting job's queueing lock
        assert request_converge(conn, sid) is False
    assert len(jobs(task_name="converge_subscription", lock=f"sub-{sid}")) == 1


def test_a_converge_requested_in_a_transaction_that_rolls_back_is_never_queued(db_conn, settings, jobs):
    sid = make_subscription(db_conn, settings)
    with pytest.raises(ZeroDivisionError):
        with db.transaction(settings.DATABASE_URL) as conn:
            assert request_converge(conn, sid) is True
            1 / 0
    assert jobs(lock=f"sub-{sid}") == []
