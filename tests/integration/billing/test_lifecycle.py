"""Billing truth -> desired state, without HTTP: the rules of app/lifecycle.py on a real database."""
from __future__ import annotations

import dataclasses
import secrets

import pytest

from app.services.orders import lifecycle
from app.services.orders.lifecycle import Outcome, apply_stripe_subscription, enforce_deadlines
from tests.factories import make_subscription


def _stripe_sub(status: str, sid: int, **extra) -> dict:
    return {"id": f"sub_test_{sid}", "object": "subscription", "status": status, "customer": "cus_test",
            "cancel_at_period_end": False, "items": {"data": [{"price": {"id": "price_unknown"},
                                                               "current_period_end": 1900000000}]}, **extra}


def _row(db_conn, sid):
    return db_conn.execute("SELECT * FROM subscriptions WHERE id = %s FOR UPDATE", (sid,)).fetchone()


@pytest.fixture
def lenient(settings):
    return dataclasses.replace(settings, SUSPEND_AFTER_DAYS=7.0, TERMINATE_AFTER_DAYS=14.0)


def test_a_paid_subscription_becomes_active_and_is_converged(db_conn, settings):
    sid = make_subscription(db_conn, settings, status="pending_payment")
    outcome = Outcome()
    apply_stripe_subscription(db_conn, settings, _row(db_conn, sid), _stripe_sub("active", sid), outcome)
    row = _row(db_conn, sid)
    assert row["status"] == "active" and row["current_period_end"] is not None
    assert outcome.converge == {sid}


def test_a_failed_renewal_is_past_due_until_the_grace_period_ends(db_conn, lenient):
    sid = make_subscription(db_conn, lenient)
    outcome = Outcome()
    apply_stripe_subscription(db_conn, lenient, _row(db_conn, sid), _stripe_sub("past_due", sid), outcome)
    assert _row(db_conn, sid)["status"] == "past_due"
    assert (sid, "suspended") not in outcome.emails

    db_conn.execute("UPDATE subscriptions SET past_due_since = now() - interval '8 days' WHERE id = %s", (sid,))
    later = Outcome()
    enforce_deadlines(db_conn, lenient, later, only=sid)
    assert _row(db_conn, sid)["status"] == "suspended"
    assert later.converge == {sid} and (sid, "suspended") in later.emails


def test_payment_after_suspension_reactivates_and_says_so(db_conn, settings):
    sid = make_subscription(db_conn, settings, status="suspended")
    outcome = Outcome()
    apply_stripe_subscription(db_conn, settings, _row(db_conn, sid), _stripe_sub("active", sid), outcome)
    assert _row(db_conn, sid)["status"] == "active"
    assert (sid, "reactivated") in outcome.emails and sid in outcome.converge


def test_cancel_at_period_end_changes_nothing_but_is_remembered(db_conn, settings):
    sid = make_subscription(db_conn, settings)
    outcome = Outcome()
    apply_stripe_subscription(db_conn, settings, _row(db_conn, sid),
                              _stripe_sub("active", sid, cancel_at_period_end=True), outcome)
    row = _row(db_conn, sid)
    assert row["status"] == "active" and row["cancel_at_period_end"] is True
    assert outcome.converge == set()


def test_a_canceled_subscription_is_kept_for_the_retention_period(db_conn, lenient):
    sid = make_subscription(db_conn, lenient)
    outcome = Outcome()
    apply_stripe_subscription(db_conn, lenient, _row(db_conn, sid), _stripe_sub("canceled", sid), outcome)
    row = _row(db_conn, sid)
    assert row["status"] == "canceled" and row["terminate_after"] is not None
    assert outcome.converge == {sid} and outcome.emails == [(sid, "canceled")]  # told at once, and when it ends
    db_conn.execute("UPDATE subscriptions SET terminate_after = now() - interval '1 second' WHERE id = %s", (sid,))
    later = Outcome()
    enforce_deadlines(db_conn, lenient, later, only=sid)
    assert _row(db_conn, sid)["status"] == "terminated" and later.converge == {sid} and later.emails == []


def test_paying_again_within_retention_takes_the_canceled_order_back(db_conn, lenient):
    sid = make_subscription(db_conn, lenient)
    apply_stripe_subscription(db_conn, lenient, _row(db_conn, sid), _stripe_sub("canceled", sid), Outcome())
    row = _row(db_conn, sid)
    session = f"cs_again_{secrets.token_hex(4)}"
    assert lifecycle.take_back_retained_order(db_conn, row["customer_id"], _domain(db_conn, sid), session) == sid
    assert db_conn.execute("SELECT stripe_checkout_session_id FROM subscriptions WHERE id = %s",
                           (sid,)).fetchone()["stripe_checkout_session_id"] == session

    outcome = Outcome()
    new_stripe_sub = {**_stripe_sub("active", sid), "id": f"sub_again_{sid}"}
    apply_stripe_subscription(db_conn, lenient, _row(db_conn, sid), new_stripe_sub, outcome)
    row = _row(db_conn, sid)
    assert (row["status"], row["terminate_after"], row["stripe_subscription_id"]) == (
        "active", None, f"sub_again_{sid}")
    assert outcome.converge == {sid} and outcome.emails == [(sid, "reactivated")]


def test_a_terminated_order_cannot_be_taken_back(db_conn, lenient):
    sid = make_subscription(db_conn, lenient, status="terminated")
    customer = _row(db_conn, sid)["customer_id"]
    assert lifecycle.take_back_retained_order(db_conn, customer, _domain(db_conn, sid), "cs_late") is None
    apply_stripe_subscription(db_conn, lenient, _row(db_conn, sid), _stripe_sub("active", sid), Outcome())
    assert _row(db_conn, sid)["status"] == "terminated"


def test_only_the_orders_own_customer_takes_it_back(db_conn, lenient):
    sid = make_subscription(db_conn, lenient, status="canceled")
    other = make_subscription(db_conn, lenient)
    assert lifecycle.take_back_retained_order(db_conn, _row(db_conn, other)["customer_id"], _domain(db_conn, sid),
                                              "cs_someone_else") is None


def _domain(db_conn, sid):
    return db_conn.execute("SELECT name FROM domains WHERE subscription_id = %s", (sid,)).fetchone()["name"]


def test_the_same_truth_applied_twice_changes_nothing_the_second_time(db_conn, settings):
    sid = make_subscription(db_conn, settings, status="pending_payment")
    apply_stripe_subscription(db_conn, settings, _row(db_conn, sid), _stripe_sub("active", sid), Outcome())
    again = Outcome()
    apply_stripe_subscription(db_conn, settings, _row(db_conn, sid), _stripe_sub("active", sid), again)
    assert again.converge == set() and again.emails == []


# --- deadlines already due: applied in the deciding transaction, one converge ----------------

@pytest.fixture
def immediate(settings):
    return dataclasses.replace(settings, SUSPEND_AFTER_DAYS=0.0, TERMINATE_AFTER_DAYS=0.0)


def _stripe_says(monkeypatch, status: str) -> None:
    monkeypatch.setattr(lifecycle.billing, "retrieve_subscription",
                        lambda settings, stripe_id: {**_stripe_sub(status, 0), "id": stripe_id})


def _event_about(db_conn, settings, sid: int) -> str:
    db_conn.execute("UPDATE subscriptions SET stripe_subscription_id = %s WHERE id = %s", (f"sub_due_{sid}", sid))
    event = {"id": f"evt_due_{secrets.token_hex(6)}", "type": "customer.subscription.updated", "created": 0,
             "data": {"object": {"id": f"sub_due_{sid}", "metadata": {}}}}
    lifecycle.record_event(settings, event)
    return event["id"]


@pytest.mark.parametrize("stripe_status,ends_as,notice", [
    ("canceled", "terminated", "canceled"),  # no retention: a cancellation terminates at once
    ("past_due", "suspended", "suspended"),  # no grace period: a failed renewal suspends at once
])
def test_with_no_retention_or_grace_the_final_state_comes_at_once(db_conn, immediate, stripe_status, ends_as,
                                                                    notice):
    sid = make_subscription(db_conn, immediate)
    outcome = Outcome()
    with db_conn.transaction():  # one transaction, as every event is processed
        apply_stripe_subscription(db_conn, immediate, _row(db_conn, sid), _stripe_sub(stripe_status, sid), outcome)
    assert _row(db_conn, sid)["status"] == ends_as
    assert outcome.converge == {sid} and outcome.emails == [(sid, notice)]


@pytest.mark.parametrize("stripe_status,ends_as,notice", [("canceled", "terminated", "canceled"),
                                                          ("past_due", "suspended", "suspended")])
def test_a_webhook_whose_deadline_is_already_due_queues_exactly_one_converge_for_the_final_state(
        db_conn, immediate, jobs, monkeypatch, stripe_status, ends_as, notice):
    sid = make_subscription(db_conn, immediate)
    _stripe_says(monkeypatch, stripe_status)

    lifecycle.process_event(immediate, _event_about(db_conn, immediate, sid))

    assert db_conn.execute("SELECT status FROM subscriptions WHERE id = %s", (sid,)).fetchone()["status"] == ends_as
    assert len(jobs(task_name="converge_subscription", lock=f"sub-{sid}")) == 1
    assert [j["args"] for j in jobs(task_name="send_lifecycle_email")] == [{"subscription_id": sid, "kind": notice}]


def test_with_a_retention_period_a_cancellation_still_waits(db_conn, lenient, jobs, monkeypatch):
    sid = make_subscription(db_conn, lenient)
    _stripe_says(monkeypatch, "canceled")

    lifecycle.process_event(lenient, _event_about(db_conn, lenient, sid))

    row = db_conn.execute("SELECT status, terminate_after - updated_at AS kept FROM subscriptions WHERE id = %s",
                          (sid,)).fetchone()
    assert row["status"] == "canceled" and row["kept"].days == 14
    # The customer is told at once that the account is suspended and until when it is kept.
    assert [j["args"] for j in jobs(task_name="send_lifecycle_email")] == [{"subscription_id": sid,
                                                                           "kind": "canceled"}]
