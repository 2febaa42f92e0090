"""Stripe webhooks: signatures enforced, duplicates and shuffles harmless, the lifecycle followed."""
from __future__ import annotations

import json
import random
import time

import psycopg
import pytest

from tests.e2e.conftest import seed_payload, wait_for
from tests.integration.converge.conftest import Servers


def _recorded(settings, event_id: str) -> bool:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT 1 FROM stripe_events WHERE id = %s", (event_id,)).fetchone() is not None


def _fake_event(kind: str = "invoice.paid") -> dict:
    return {"id": f"evt_test_{random.randrange(1 << 40):x}", "object": "event", "type": kind,
            "created": int(time.time()), "data": {"object": {"id": "in_unknown", "object": "invoice"}}}


@pytest.mark.parametrize("how", ["wrong secret", "stale timestamp", "malformed header", "altered body"])
def test_a_bad_signature_is_rejected_and_changes_nothing(mpanel, settings, how):
    event = _fake_event()
    if how == "wrong secret":
        answer = mpanel.webhook(event, secret="whsec_not_the_right_one")
    elif how == "stale timestamp":
        answer = mpanel.webhook(event, timestamp=int(time.time()) - 400)
    elif how == "malformed header":
        answer = mpanel.webhook(event, signature="this is not a signature")
    else:
        good = mpanel.webhook  # sign one body, send another
        body = json.dumps(event).encode()
        import hashlib
        import hmac
        t = int(time.time())
        mac = hmac.new(settings.STRIPE_WEBHOOK_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        answer = good(body.replace(b"invoice.paid", b"invoice.payment_failed"), signature=f"t={t},v1={mac}")
    assert answer.status_code == 400 and answer.json()["field"] in ("Stripe-Signature", "body")
    assert not _recorded(settings, event["id"])


def test_a_correctly_signed_event_is_recorded_once_and_a_duplicate_is_acknowledged(mpanel, settings):
    event = _fake_event()
    first, second = mpanel.webhook(event), mpanel.webhook(event)
    assert first.status_code == 200 and second.status_code == 200
    assert second.json().get("duplicate") is True
    assert _recorded(settings, event["id"])
    # the answer's own handling time, which `mpanel bench journey` reports beside the sender's view
    assert float(first.headers["Server-Timing"].removeprefix("app;dur=")) > 0


def test_duplicated_shuffled_and_late_events_give_one_account_one_registration_one_email(
        mpanel, settings, paused_delivery):
    payload = seed_payload(domainMode="new_registration")
    body = mpanel.checkout(payload).json()
    since = int(time.time()) - 1
    assert mpanel.pay(body["checkoutSessionId"]).status_code == 200
    events = [e for e in mpanel.stripe_events() if e["created"] >= since]
    assert any(e["type"] == "checkout.session.completed" for e in events)

    deliveries = events * 3
    random.shuffle(deliveries)
    for event in deliveries:
        assert mpanel.webhook(event).status_code == 200
    mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready")
    mpanel.stripe_control("webhooks", {"paused": False})  # Stripe's own (late) deliveries now arrive too
    wait_for(lambda: mpanel.mails_to(payload["customer"]["email"]), 60, "the welcome email")

    servers = Servers(settings)
    assert len(servers.whm_accounts_for(payload["domain"])) == 1
    # A registrar holds a name once; a second registerDomain would have failed the run (262).
    assert int(servers.namesilo("getDomainInfo", domain=payload["domain"])["code"]) == 300
    ids = {e["id"] for e in events}
    wait_for(lambda: _all_processed(settings, ids), 60, "every delivered event to be processed")
    assert len(mpanel.mails_to(payload["customer"]["email"])) == 1


def _all_processed(settings, ids: set[str]) -> bool:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT count(*) FROM stripe_events WHERE processed_at IS NOT NULL AND id = ANY(%s)",
                            (list(ids),)).fetchone()[0] == len(ids)


@pytest.fixture
def active_account(mpanel, settings):
    payload = seed_payload()
    body = mpanel.checkout(payload).json()
    mpanel.pay(body["checkoutSessionId"])
    mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready")
    with psycopg.connect(settings.DATABASE_URL) as conn:
        stripe_sub = conn.execute("SELECT stripe_subscription_id FROM subscriptions WHERE id = %s",
                                  (body["subscriptionId"],)).fetchone()[0]
    return body["subscriptionId"], stripe_sub, payload


def test_a_failed_renewal_suspends_and_a_paid_one_reactivates(mpanel, settings, active_account):
    sid, stripe_sub, payload = active_account
    servers = Servers(settings)
    mpanel.stripe_control(f"subscriptions/{stripe_sub}/advance", {"outcome": "renewal_failed"})
    mpanel.wait_until(sid, status="suspended", websiteStatus="suspended")
    assert int(servers.whm_accounts_for(payload["domain"])[0]["suspended"]) == 1

    mpanel.stripe_control(f"subscriptions/{stripe_sub}/advance", {"outcome": "renewal_paid"})
    mpanel.wait_until(sid, status="active", websiteStatus="active")
    assert int(servers.whm_accounts_for(payload["domain"])[0]["suspended"]) == 0
    wait_for(lambda: _no_mail_owed(settings, sid), 60, "every email this order is owed to be sent")
    subjects = [m["Subject"] for m in mpanel.mails_to(payload["customer"]["email"])]
    # Counted once quiet: a duplicate sent late would be seen, not raced past.
    assert len(subjects) == 3, subjects
    assert sum("suspended" in s for s in subjects) == 1 and sum("back online" in s for s in subjects) == 1, subjects


def _no_mail_owed(settings, sid: int) -> bool:
    """No email job about this subscription waiting or running."""
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE queue_name = 'mail' "
                            "AND status IN ('todo', 'doing') AND (args->>'subscription_id')::bigint = %s",
                            (sid,)).fetchone()[0] == 0


def test_a_plan_change_in_stripe_changes_the_package_in_place(mpanel, settings, active_account):
    from app import db
    from app.services.orders import billing

    sid, stripe_sub, payload = active_account
    with db.transaction(settings.DATABASE_URL) as conn:
        plan = conn.execute("SELECT * FROM plans WHERE slug = 'shared_business'").fetchone()
        new_price = billing.price_for(conn, settings, plan, "monthly")
    client = billing.client(settings)
    item = client.v1.subscriptions.retrieve(stripe_sub)["items"]["data"][0]["id"]
    client.v1.subscriptions.update(stripe_sub, params={"items": [{"id": item, "price": new_price}],
                                                       "proration_behavior": "none"})
    servers = Servers(settings)
    [before] = servers.whm_accounts_for(payload["domain"])
    wait_for(lambda: servers.whm_accounts_for(payload["domain"])[0]["plan"] == "mpanel_business", 120,
             "the WHM package to change")
    mpanel.wait_until(sid, provisioningStatus="ready")
    # In place: the same WHM user, no second account, and the run replaced nothing.
    [after] = servers.whm_accounts_for(payload["domain"])
    assert after["user"] == before["user"] and after["plan"] == "mpanel_business"
    with psycopg.connect(settings.DATABASE_URL) as conn:
        run = conn.execute("SELECT id, summary FROM provisioning_runs WHERE subscription_id = %s AND operation = 'up' "
                           "AND status = 'succeeded' ORDER BY id DESC LIMIT 1", (sid,)).fetchone()
        account_ops = {r[0] for r in conn.execute(
            "SELECT op FROM provisioning_events WHERE run_id = %s AND resource_name = 'account' AND op IS NOT NULL",
            (run[0],)).fetchall()}
    assert not (run[1] or {}).get("replace") and not (run[1] or {}).get("create"), run[1]
    assert "update" in account_ops and not account_ops & {"replace", "create", "delete"}, account_ops


def test_cancellation_at_period_end_waits_then_destroys_everything(mpanel, settings, active_account):
    from app.services.orders import billing

    sid, stripe_sub, payload = active_account
    billing.client(settings).v1.subscriptions.update(stripe_sub, params={"cancel_at_period_end": True})
    wait_for(lambda: _cancel_flag(settings, sid), 30, "cancel_at_period_end to be recorded")
    assert mpanel.status(sid)["status"] == "active"

    mpanel.stripe_control(f"subscriptions/{stripe_sub}/advance", {"outcome": "period_end"})
    mpanel.wait_until(sid, provisioningStatus="destroyed", deadline=120)
    servers = Servers(settings)
    assert servers.whm_accounts_for(payload["domain"]) == []
    assert servers.zone(payload["domain"]) is None
    wait_for(lambda: any("cancel" in (m["Subject"] or "").lower() for m in mpanel.mails_to(payload["customer"]["email"])),
             60, "the cancellation email")


def _cancel_flag(settings, sid) -> bool:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT cancel_at_period_end FROM subscriptions WHERE id = %s", (sid,)).fetchone()[0]
