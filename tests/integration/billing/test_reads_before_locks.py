"""process_event asks Stripe before it locks anything: while Stripe answers, the event's row
and the order's row are free (another connection can lock them at once) and no transaction of
the processing is open."""
from __future__ import annotations

import psycopg

from app.services.orders import lifecycle
from tests.factories import suspended_with_stripe_update


def test_stripe_is_read_with_no_row_locked_and_what_it_said_is_applied(db_conn, settings, monkeypatch):
    sid, stripe_id, event = suspended_with_stripe_update(db_conn, settings, "free")
    seen = []

    def stripe_answers(settings_, asked):
        with psycopg.connect(settings.DATABASE_URL, autocommit=True) as other:
            other.execute("SET lock_timeout = '1ms'")  # any lock held by the processing fails this at once
            other.execute("BEGIN")
            other.execute("SELECT 1 FROM subscriptions WHERE id = %s FOR UPDATE", (sid,))
            other.execute("SELECT 1 FROM stripe_events WHERE id = %s FOR UPDATE", (event["id"],))
            busy = other.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()").fetchone()[0]
            other.execute("ROLLBACK")
        seen.append((asked, busy))
        return {"id": asked, "status": "active", "customer": "cus_free", "cancel_at_period_end": False,
                "items": {"data": [{"price": {"id": "price_unknown"}, "current_period_end": 1900000000}]}}

    monkeypatch.setattr(lifecycle.billing, "retrieve_subscription", stripe_answers)
    outcome = lifecycle.process_event(settings, event["id"])

    assert seen == [(stripe_id, 0)]
    assert outcome.converge == {sid}
    row = db_conn.execute("SELECT status FROM subscriptions WHERE id = %s", (sid,)).fetchone()
    assert row["status"] == "active"
    assert db_conn.execute("SELECT processed_at FROM stripe_events WHERE id = %s",
                           (event["id"],)).fetchone()["processed_at"] is not None
    db_conn.execute("DELETE FROM procrastinate_jobs WHERE status = 'todo' AND lock = %s", (f"sub-{sid}",))
