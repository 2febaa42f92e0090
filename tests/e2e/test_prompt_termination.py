"""With no retention period a cancellation is a destroy within seconds, not at the next minute's sweep."""
from __future__ import annotations

import time

import psycopg

from tests.e2e.conftest import seed_payload, wait_for
from tests.integration.converge.conftest import Servers


def _runs_since(settings, sid: int, since_run: int) -> list[str]:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return [r[0] for r in conn.execute("SELECT operation FROM provisioning_runs WHERE subscription_id = %s "
                                           "AND id > %s ORDER BY id", (sid, since_run))]


def _ended_by_stripe(settings, stripe_sub: str) -> bool:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT 1 FROM stripe_events WHERE type = 'customer.subscription.deleted' "
                            "AND processed_at IS NOT NULL AND payload->'data'->'object'->>'id' = %s",
                            (stripe_sub,)).fetchone() is not None


def _last_run(settings, sid: int) -> int:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM provisioning_runs WHERE subscription_id = %s",
                            (sid,)).fetchone()[0]


def test_a_cancellation_with_no_retention_destroys_within_seconds_with_one_run(mpanel, settings):
    assert settings.TERMINATE_AFTER_DAYS == 0
    payload = seed_payload()
    body = mpanel.checkout(payload).json()
    sid = body["subscriptionId"]
    mpanel.pay(body["checkoutSessionId"])
    mpanel.wait_until(sid, provisioningStatus="ready")
    with psycopg.connect(settings.DATABASE_URL) as conn:
        stripe_sub = conn.execute("SELECT stripe_subscription_id FROM subscriptions WHERE id = %s",
                                  (sid,)).fetchone()[0]
    before = _last_run(settings, sid)

    from app.services.orders import billing
    started = time.monotonic()
    billing.client(settings).v1.subscriptions.cancel(stripe_sub)  # Stripe tells us by webhook

    wait_for(lambda: _ended_by_stripe(settings, stripe_sub), 15, "Stripe's cancellation to be processed")
    # Terminated by the event itself, not by the sweep that runs once a minute.
    assert mpanel.status(sid)["status"] == "terminated"
    mpanel.wait_until(sid, provisioningStatus="destroyed", deadline=35)
    assert time.monotonic() - started < 40
    assert _runs_since(settings, sid, before) == ["destroy"]  # no `up` of a canceled account first
    servers = Servers(settings)
    assert servers.whm_accounts_for(payload["domain"]) == []
    assert servers.zone(payload["domain"]) is None
