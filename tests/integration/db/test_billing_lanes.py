"""Each Stripe customer's events are processed in a lane of their own (app/jobs/defer.py
billing_lock): an event waiting to be retried holds back its own customer's later events, which
keep their order, and nobody else's. Checked with procrastinate's own fetch on PostgreSQL."""
from __future__ import annotations

import secrets

import psycopg
import pytest

from app.services import sweeps
from app.services.orders import lifecycle


def _event(kind: str, customer: str | None) -> dict:
    obj = {"id": f"in_lane_{secrets.token_hex(4)}", "object": "invoice", "customer": customer}
    if kind == "customer.updated":
        obj = {"id": customer, "object": "customer"}
    return {"id": f"evt_lane_{secrets.token_hex(6)}", "type": kind, "created": 0, "data": {"object": obj}}


@pytest.fixture
def recorded(settings, db_conn):
    """recorded(event) records a delivery as the webhook does; every job and event a test
    recorded is removed afterwards, so no worker processes them later."""
    ids: list[str] = []

    def record(event: dict) -> str:
        lifecycle.record_event(settings, event)
        ids.append(event["id"])
        return event["id"]

    yield record
    db_conn.execute("DELETE FROM procrastinate_jobs WHERE args->>'event_id' = ANY(%s)", (ids,))
    db_conn.execute("DELETE FROM stripe_events WHERE id = ANY(%s)", (ids,))


def _waiting_for_its_retry(db_conn, event_id: str) -> None:
    """What procrastinate leaves after a failed attempt: the job todo again, due later."""
    db_conn.execute("UPDATE procrastinate_jobs SET attempts = 1, scheduled_at = now() + interval '1 hour' "
                    "WHERE args->>'event_id' = %s", (event_id,))


def _done(db_conn, event_id: str) -> None:
    db_conn.execute("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE args->>'event_id' = %s", (event_id,))


def _fetchable(settings, event_ids: list[str]) -> list[str]:
    """Of these events, the ones a billing worker would take now and in which order: every job
    fetched in turn (each taken job stays 'doing', as while it runs), then all rolled back."""
    fetched: list[str] = []
    with psycopg.connect(settings.DATABASE_URL) as conn:
        worker = conn.execute("SELECT procrastinate_register_worker_v1()").fetchone()[0]
        while True:
            job = conn.execute("SELECT id, args FROM procrastinate_fetch_job_v2(ARRAY['billing'], %s)",
                               (worker,)).fetchone()
            if job is None or job[0] is None:
                break
            fetched.append(job[1]["event_id"])
        conn.rollback()
    return [event_id for event_id in fetched if event_id in event_ids]


def test_an_event_waiting_for_its_retry_holds_back_only_its_own_customers_later_events(settings, db_conn, recorded):
    a, b = f"cus_lane_a_{secrets.token_hex(4)}", f"cus_lane_b_{secrets.token_hex(4)}"
    failing = recorded(_event("invoice.paid", a))
    a_later = recorded(_event("customer.updated", a))
    b_first, b_second = recorded(_event("invoice.paid", b)), recorded(_event("invoice.payment_failed", b))
    _waiting_for_its_retry(db_conn, failing)

    # Customer B's first event is taken; its second waits for it (same lane), A's wait for the retry.
    assert _fetchable(settings, [failing, a_later, b_first, b_second]) == [b_first]
    lanes = {r["args"]["event_id"]: r["lock"] for r in db_conn.execute(
        "SELECT args, lock FROM procrastinate_jobs WHERE args->>'event_id' = ANY(%s)",
        ([failing, a_later, b_first, b_second],))}
    assert lanes == {failing: f"billing-{a}", a_later: f"billing-{a}", b_first: f"billing-{b}", b_second: f"billing-{b}"}

    _done(db_conn, b_first)
    assert _fetchable(settings, [failing, a_later, b_second]) == [b_second]

    # Its retry due, the failing event goes before its customer's later one.
    _done(db_conn, b_second)
    db_conn.execute("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE args->>'event_id' = %s", (failing,))
    assert _fetchable(settings, [failing, a_later]) == [failing]
    _done(db_conn, failing)
    assert _fetchable(settings, [a_later]) == [a_later]


def test_the_sweep_asks_again_in_the_customers_lane(settings, db_conn, recorded):
    customer = f"cus_lane_{secrets.token_hex(4)}"
    left = recorded(_event("invoice.paid", customer))
    db_conn.execute("DELETE FROM procrastinate_jobs WHERE args->>'event_id' = %s", (left,))
    db_conn.execute("UPDATE stripe_events SET received_at = now() - interval '1 hour' WHERE id = %s", (left,))

    sweeps.process_unprocessed_stripe_events(settings)
    [job] = db_conn.execute("SELECT lock FROM procrastinate_jobs WHERE args->>'event_id' = %s AND status = 'todo'",
                            (left,)).fetchall()
    assert job["lock"] == f"billing-{customer}"


def test_an_event_about_no_customer_has_its_objects_lane(settings, db_conn, recorded):
    """A checkout session that expired unpaid names no customer: it must not queue behind
    whatever event that names nothing at all is waiting for its retry."""
    nameless = recorded({"id": f"evt_lane_{secrets.token_hex(6)}", "type": "invoice.paid", "created": 0,
                         "data": {"object": {}}})
    session = f"cs_lane_{secrets.token_hex(4)}"
    expired = recorded({"id": f"evt_lane_{secrets.token_hex(6)}", "type": "checkout.session.expired", "created": 0,
                        "data": {"object": {"id": session, "object": "checkout.session", "customer": None}}})
    _waiting_for_its_retry(db_conn, nameless)

    assert _fetchable(settings, [nameless, expired]) == [expired]
    assert db_conn.execute("SELECT lock FROM procrastinate_jobs WHERE args->>'event_id' = %s",
                           (expired,)).fetchone()["lock"] == f"billing-{session}"
