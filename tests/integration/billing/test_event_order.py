"""Stripe does not promise to deliver events in the order it made them (docs: webhooks, "Event
ordering"), so what an order ends as must not depend on it. For a failed renewal, its retry paid,
a plan change and a cancellation at the period end, two orders live the same Stripe story on the
stand-in: one has the events processed in the order Stripe documents and the stand-in emits
(docs/stand-ins.md), the other in the reverse order; both end in the same state, and that state
is the one the story means (read from our rows, not from the events)."""
from __future__ import annotations

import dataclasses
import time

import pytest
import requests

from app.services.orders import billing, customer_billing, lifecycle
from tests.integration.billing.test_stripe_matching import _active_order

pytestmark = pytest.mark.usefixtures("nothing_left_to_build")


@pytest.fixture
def retained(settings):
    # Suspension and termination after days, as in production: the end state is billing's alone.
    return dataclasses.replace(settings, SUSPEND_AFTER_DAYS=7.0, TERMINATE_AFTER_DAYS=30.0)


def _events(settings) -> list[dict]:
    answer = requests.get(f"{settings.STRIPE_API_BASE}/v1/events", params={"limit": 100}, timeout=10,
                          headers={"Authorization": f"Bearer {settings.STRIPE_SECRET_KEY}"})
    answer.raise_for_status()
    return answer.json()["data"]  # newest first


def _made_by(settings, step) -> list[dict]:
    """The events Stripe made while `step` ran, oldest first."""
    marker = _events(settings)[0]["id"]
    step()
    made = []
    for event in _events(settings):
        if event["id"] == marker:
            return list(reversed(made))
        made.append(event)
    raise AssertionError("more than 100 events since the marker: the step did too much")


def _process(settings, events: list[dict]) -> None:
    for event in events:
        lifecycle.record_event(settings, event)
        lifecycle.process_event(settings, event["id"])


def _state(db_conn, sid: int) -> dict:
    row = db_conn.execute("SELECT s.status, p.slug AS plan, s.cancel_at_period_end, s.current_period_end, "
                          "s.past_due_since IS NOT NULL AS past_due, s.terminate_after IS NOT NULL AS ending, "
                          "s.failed_payment IS NOT NULL AS payment_failed "
                          "FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.id = %s", (sid,)).fetchone()
    return dict(row)


def _advance(settings, stripe_sub: str, outcome: str) -> None:
    answer = requests.post(f"{settings.STRIPE_API_BASE}/_sandbox/subscriptions/{stripe_sub}/advance",
                           json={"outcome": outcome}, timeout=30)
    assert answer.status_code == 200, answer.text


def _user_of(db_conn, sid: int) -> int:
    return db_conn.execute("SELECT c.user_id FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
                           "WHERE s.id = %s", (sid,)).fetchone()["user_id"]


STORIES = {
    "a failed renewal": lambda s, db, sid, sub: _advance(s, sub, "renewal_failed"),
    "a plan change": lambda s, db, sid, sub: customer_billing.change_plan(
        s, _user_of(db, sid), sid, "shared_business", str(int(time.time()))),
    "a cancellation at the period end": lambda s, db, sid, sub: (
        billing.client(s).v1.subscriptions.update(sub, params={"cancel_at_period_end": True}),
        _advance(s, sub, "period_end")),
}
MEANT = {
    "a failed renewal": {"status": "past_due", "plan": "shared_student", "past_due": True, "payment_failed": True,
                         "ending": False},
    "a plan change": {"status": "active", "plan": "shared_business", "past_due": False, "ending": False},
    "a cancellation at the period end": {"status": "canceled", "plan": "shared_student", "ending": True},
}


@pytest.mark.parametrize("story", sorted(STORIES))
def test_the_same_events_in_another_order_end_the_order_in_the_same_state(retained, db_conn, story):
    ends = []
    for order in (list, lambda events: list(reversed(events))):
        sid, stripe_sub = _active_order(retained, db_conn)
        events = _made_by(retained, lambda: STORIES[story](retained, db_conn, sid, stripe_sub))
        assert len(events) >= 2, [e["type"] for e in events]
        _process(retained, order(events))
        ends.append(_state(db_conn, sid))
    in_order, reversed_ = ends
    # Two orders, two Stripe subscriptions: their periods end at their own instants.
    assert abs((in_order.pop("current_period_end") - reversed_.pop("current_period_end")).total_seconds()) < 120
    assert in_order == reversed_
    assert {k: in_order[k] for k in MEANT[story]} == MEANT[story]


def test_a_retry_paid_before_its_failure_is_processed_leaves_the_order_active(retained, db_conn):
    """The failed renewal's events and its paid retry's, all delivered newest first."""
    sid, stripe_sub = _active_order(retained, db_conn)
    failed = _made_by(retained, lambda: _advance(retained, stripe_sub, "renewal_failed"))
    paid = _made_by(retained, lambda: _advance(retained, stripe_sub, "renewal_paid"))
    _process(retained, list(reversed(failed + paid)))
    assert {k: v for k, v in _state(db_conn, sid).items() if k != "current_period_end"} == {
        "status": "active", "plan": "shared_student", "cancel_at_period_end": False, "past_due": False,
        "ending": False, "payment_failed": False}
