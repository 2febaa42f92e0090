"""A pooled connection the server dropped is replaced when taken, not handed to a request
(mpanel chaos saw the Stripe webhook answer 500 after pg_terminate_backend)."""
from __future__ import annotations

import secrets

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app import db


def test_a_transaction_after_the_server_dropped_every_pooled_connection_works(settings):
    # A pool of its own (the application_name makes the DSN, so the pool, this test's alone):
    # dropping every session of the shared pool would also cut what other tests' threads hold.
    dsn = make_conninfo(settings.DATABASE_URL, application_name=f"mpanel-dropped-{secrets.token_hex(4)}")
    pool = db.pool(dsn)
    try:
        with db.transaction(dsn) as conn:  # at least one connection now pooled
            conn.execute("SELECT 1")
        pool.wait(timeout=10)
        with psycopg.connect(settings.DATABASE_URL, autocommit=True) as other:
            dropped = other.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s", (conninfo_to_dict(dsn)["application_name"],)).fetchone()[0]
        assert dropped >= 1
        with db.transaction(dsn) as conn:
            assert conn.execute("SELECT 1 AS one").fetchone()["one"] == 1
    finally:
        db._pools.pop(dsn, None)
        pool.close()


# --- a request whose connection drops mid-way (issue 28: webhooks answered 500 under `mpanel chaos`) ---

def _drop_own_connection(conn) -> None:
    """What a PostgreSQL restart or pg_terminate_backend does to the request's connection."""
    conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")


def _client(settings, **changes):
    import dataclasses

    from app import create_app

    app = create_app(dataclasses.replace(settings, STRIPE_WEBHOOK_SECRET="whsec_dropped_connections", **changes),
                     open_queue=False)
    return app.test_client()


def _delivery(event_id: str) -> tuple[bytes, dict]:
    import hashlib
    import hmac
    import json
    import time

    body = json.dumps({"id": event_id, "type": "test.dropped_connection", "created": int(time.time()),
                       "data": {"object": {}}}).encode()
    t = int(time.time())
    signature = hmac.new(b"whsec_dropped_connections", f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={t},v1={signature}", "Content-Type": "application/json"}


def _dropping_record(monkeypatch, drops: int) -> list:
    """The webhook's first statement (a first delivery's, app/db/orders/stripe_events.record_new)
    loses its connection the first `drops` times."""
    from app.db.orders import stripe_events

    record, calls = stripe_events.record_new, []

    def dropping(conn, event, processing):
        calls.append(event["id"])
        if len(calls) <= drops:
            _drop_own_connection(conn)
        return record(conn, event, processing)
    monkeypatch.setattr(stripe_events, "record_new", dropping)
    return calls


def test_a_webhook_whose_connection_drops_is_recorded_on_a_fresh_connection(settings, db_conn, monkeypatch):
    import secrets

    event_id = f"evt_dropped_{secrets.token_hex(6)}"
    calls = _dropping_record(monkeypatch, drops=1)
    body, headers = _delivery(event_id)

    answer = _client(settings).post("/api/webhooks/stripe", data=body, headers=headers)

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert calls == [event_id, event_id]
    assert db_conn.execute("SELECT count(*) AS n FROM stripe_events WHERE id = %s", (event_id,)).fetchone()["n"] == 1
    db_conn.execute("DELETE FROM procrastinate_jobs WHERE queueing_lock = %s", (f"evt-{event_id}",))
    db_conn.execute("DELETE FROM stripe_events WHERE id = %s", (event_id,))


def test_a_webhook_after_the_server_dropped_every_pooled_connection_is_recorded(settings, db_conn):
    # The webhook takes its connection unchecked (one round trip less); a restart drops all of
    # them, so the second try must not take another dead one.
    import secrets

    dsn = make_conninfo(settings.DATABASE_URL, application_name=f"mpanel-dropped-{secrets.token_hex(4)}")
    client = _client(settings, DATABASE_URL=dsn)
    try:
        with db.single_statements(dsn) as one, db.single_statements(dsn) as two:  # two pooled, idle after
            one.execute("SELECT 1")
            two.execute("SELECT 1")
        with psycopg.connect(settings.DATABASE_URL, autocommit=True) as other:
            dropped = other.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s", (conninfo_to_dict(dsn)["application_name"],)).fetchone()[0]
        assert dropped >= 2
        event_id = f"evt_dropped_{secrets.token_hex(6)}"
        body, headers = _delivery(event_id)

        answer = client.post("/api/webhooks/stripe", data=body, headers=headers)

        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert db_conn.execute("SELECT count(*) AS n FROM stripe_events WHERE id = %s",
                               (event_id,)).fetchone()["n"] == 1
        db_conn.execute("DELETE FROM procrastinate_jobs WHERE queueing_lock = %s", (f"evt-{event_id}",))
        db_conn.execute("DELETE FROM stripe_events WHERE id = %s", (event_id,))
    finally:
        for pools in (db._pools, db._unchecked_pools):
            if dsn in pools:
                pools.pop(dsn).close()


def test_a_webhook_whose_connection_drops_twice_answers_503_with_retry_after(settings, db_conn, monkeypatch):
    import secrets

    event_id = f"evt_dropped_{secrets.token_hex(6)}"
    _dropping_record(monkeypatch, drops=2)
    body, headers = _delivery(event_id)

    answer = _client(settings).post("/api/webhooks/stripe", data=body, headers=headers)

    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) > 0
    assert answer.get_json()["error"] == "database_unavailable"
    assert db_conn.execute("SELECT count(*) AS n FROM stripe_events WHERE id = %s", (event_id,)).fetchone()["n"] == 0


def test_a_page_whose_connection_drops_answers_503_with_retry_after(settings, monkeypatch):
    from app.services.orders import checkout

    def dropping(settings, session_id):
        with db.transaction(settings.DATABASE_URL) as conn:
            _drop_own_connection(conn)
    monkeypatch.setattr(checkout, "provisioning_status", dropping)
    monkeypatch.setattr("app.web.pages.provisioning_status", dropping)

    answer = _client(settings).get("/checkout/success?session_id=cs_test_dropped", headers={"Accept": "text/html"})

    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) > 0
    assert "try again" in answer.get_data(as_text=True)
