"""The checkout holds no database connection while Stripe works (issue 10 item 2), against the real
PostgreSQL and the Stripe stand-in: the order is committed first, Stripe is called with no pooled
connection out, the session is recorded after; a Stripe refusal leaves nothing written, and an
order whose checkout died between the two steps is abandoned by the sweep, its domain freed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from app import db
from app.devtools.demo import seed_checkout
from app.services.orders.billing import PaymentServiceError
from app.services.orders.checkout import INTERRUPTED_CHECKOUT_MINUTES, abandon_interrupted_checkouts, start_checkout
from tests.polling import wait_for


@pytest.fixture
def stripe_faults(settings):
    def add(**spec):
        requests.post(f"{settings.STRIPE_API_BASE}/_sandbox/faults", json=spec, timeout=10).raise_for_status()
    yield add
    requests.delete(f"{settings.STRIPE_API_BASE}/_sandbox/faults", timeout=10).raise_for_status()


def _payload() -> dict:
    return seed_checkout(os.urandom(4).hex())


def _counts(db_conn) -> tuple:
    return tuple(db_conn.execute(
        "SELECT (SELECT count(*) FROM users) AS u, (SELECT count(*) FROM customers) AS c, "
        "(SELECT count(*) FROM subscriptions) AS s, (SELECT count(*) FROM domains) AS d").fetchone().values())


def _order_of(db_conn, domain: str) -> dict | None:
    return db_conn.execute("SELECT s.id, s.status, s.stripe_checkout_session_id, d.status AS domain_status "
                           "FROM subscriptions s JOIN domains d ON d.subscription_id = s.id "
                           "WHERE d.name = %s ORDER BY s.id DESC LIMIT 1", (domain,)).fetchone()


def test_stripe_is_called_with_the_order_committed_and_no_pooled_connection_out(settings, db_conn, stripe_faults):
    payload = _payload()
    stripe_faults(operation="checkout.sessions.create", kind="latency", ms=1500)
    pool = db.pool(settings.DATABASE_URL)
    seen = []

    def watch():  # what another client sees while the checkout waits for Stripe
        order = wait_for(lambda: _order_of(db_conn, payload["domain"]), 20, "the order to be committed", every=0.02)
        time.sleep(0.3)  # well inside Stripe's 1.5 s
        stats = pool.get_stats()
        seen.append((dict(_order_of(db_conn, payload["domain"])), stats["pool_size"] - stats["pool_available"]))

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = start_checkout(settings, payload)
    watcher.join()

    [(order, connections_out)] = seen
    assert order["status"] == "pending_payment" and order["stripe_checkout_session_id"] is None
    assert connections_out == 0
    assert _order_of(db_conn, payload["domain"])["stripe_checkout_session_id"] == result["checkoutSessionId"]


def test_a_stripe_refusal_leaves_nothing_written(settings, db_conn, stripe_faults):
    stripe_faults(operation="checkout.sessions.create", kind="http", status=503, count=0)
    before = _counts(db_conn)
    payload = _payload()
    with pytest.raises(PaymentServiceError):
        start_checkout(settings, payload)
    assert _counts(db_conn) == before
    # The same customer simply tries again once Stripe is back.
    requests.delete(f"{settings.STRIPE_API_BASE}/_sandbox/faults", timeout=10).raise_for_status()
    assert start_checkout(settings, payload)["status"] == "pending_payment"


_CHECKOUT_IN_A_CHILD = """
import json, sys
from app.services.orders.checkout import start_checkout
from app.settings import Settings
start_checkout(Settings.from_env(), json.loads(sys.argv[1]))
"""


def test_a_checkout_killed_between_its_two_steps_is_swept_and_its_domain_freed(settings, db_conn, stripe_faults):
    import json

    payload = _payload()
    stripe_faults(operation="checkout.sessions.create", kind="latency", ms=5000)
    child = subprocess.Popen([sys.executable, "-c", _CHECKOUT_IN_A_CHILD, json.dumps(payload)])
    try:
        order = wait_for(lambda: _order_of(db_conn, payload["domain"]), 60, "the order to be committed", every=0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert (order["status"], order["stripe_checkout_session_id"]) == ("pending_payment", None)

    # Fresh, it is left alone (a live checkout may still be waiting for Stripe) ...
    abandon_interrupted_checkouts(settings)
    assert _order_of(db_conn, payload["domain"])["status"] == "pending_payment"
    # ... once older than any live checkout, it is abandoned and its domain freed for anyone.
    db_conn.execute("UPDATE subscriptions SET created_at = now() - make_interval(mins => %s) WHERE id = %s",
                    (INTERRUPTED_CHECKOUT_MINUTES + 1, order["id"]))
    assert abandon_interrupted_checkouts(settings) >= 1
    assert _order_of(db_conn, payload["domain"])["domain_status"] == "released"
    other = {**_payload(), "domain": payload["domain"]}
    assert start_checkout(settings, other)["status"] == "pending_payment"
