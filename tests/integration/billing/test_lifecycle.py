"""Billing truth -> desired state, without HTTP: the rules of app/lifecycle.py on a real database."""
from __future__ import annotations

import dataclasses

import pytest

from app.services.lifecycle import Outcome, apply_stripe_subscription, enforce_deadlines
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
    db_conn.execute("UPDATE subscriptions SET terminate_after = now() - interval '1 second' WHERE id = %s", (sid,))
    later = Outcome()
    enforce_deadlines(db_conn, lenient, later, only=sid)
    assert _row(db_conn, sid)["status"] == "terminated" and (sid, "canceled") in later.emails


def test_the_same_truth_applied_twice_changes_nothing_the_second_time(db_conn, settings):
    sid = make_subscription(db_conn, settings, status="pending_payment")
    apply_stripe_subscription(db_conn, settings, _row(db_conn, sid), _stripe_sub("active", sid), Outcome())
    again = Outcome()
    apply_stripe_subscription(db_conn, settings, _row(db_conn, sid), _stripe_sub("active", sid), again)
    assert again.converge == set() and again.emails == []
