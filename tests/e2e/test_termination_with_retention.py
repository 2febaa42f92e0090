"""Termination with a way back (architecture decision 6): a cancellation suspends the account at
once and backs it up; paying again within the retention period gives the same account back with
its files and mail; once the period has passed the stack is destroyed and only the backup is left.

The app and worker run with TERMINATE_AFTER_DAYS=0 (tests/conftest.py); this journey needs a
retention period, so Stripe's deliveries are held and each Stripe event is processed by the real
handlers with the settings this test chooses (30 days, then 0 for the final cancellation). The
worker still does every converge, and every check reads the servers themselves.
"""
from __future__ import annotations

import dataclasses
import tarfile
import time
from pathlib import Path

import psycopg

from app import db
from app.db import stripe_events
from app.services import billing, lifecycle
from tests.e2e.conftest import seed_payload, wait_for
from tests.integration.converge.conftest import Servers


def _process_stripe_event(mpanel, settings, event_type: str, object_id: str) -> None:
    """Record and process the Stripe event about `object_id` as the webhook would, with `settings`."""
    event = wait_for(lambda: next((e for e in mpanel.stripe_events(type=event_type)
                                   if e["data"]["object"]["id"] == object_id), None), 20, f"{event_type} from Stripe")
    with db.transaction(settings.DATABASE_URL) as conn:
        stripe_events.record(conn, event)
    lifecycle.process_event(settings, event["id"])


def _row(settings, sid: int) -> dict:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        status, stripe_sub, customer, terminate_after = conn.execute(
            "SELECT status, stripe_subscription_id, customer_id, terminate_after FROM subscriptions WHERE id = %s",
            (sid,)).fetchone()
    return {"status": status, "stripe_sub": stripe_sub, "customer_id": customer, "terminate_after": terminate_after}


def _archive_names(servers: Servers, user: str) -> set[str]:
    files = servers.whm("list_cparchive_files")["data"]["quickrestore_files"]
    [listed] = [f for f in files if f["user"] == user]
    with tarfile.open(Path(listed["path"]) / listed["file"]) as tar:
        return set(tar.getnames())


def _pay_again(mpanel, settings, sid: int, domain: str, email: str) -> str:
    """What a returning customer's checkout for the same domain does: a new Stripe checkout for the
    retained order (taken back, not a new order), paid by card."""
    with db.transaction(settings.DATABASE_URL) as conn:
        row = conn.execute("SELECT s.customer_id, s.billing_cycle, p.* FROM subscriptions s JOIN plans p "
                           "ON p.id = s.plan_id WHERE s.id = %s", (sid,)).fetchone()
        price = billing.price_for(conn, settings, row, row["billing_cycle"])
        session = billing.client(settings).v1.checkout.sessions.create(params={
            "mode": "subscription", "line_items": [{"price": price, "quantity": 1}],
            "success_url": f"{settings.APP_URL}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}",
            "customer_email": email, "client_reference_id": str(sid),
            "metadata": {"subscription_id": str(sid)}, "subscription_data": {"metadata": {"subscription_id": str(sid)}},
        })
        assert lifecycle.take_back_retained_order(conn, row["customer_id"], domain, session.id) == sid
    assert mpanel.pay(session.id).ok
    return session.id


def test_cancel_suspend_back_up_pay_again_same_account_then_destroy_after_retention(mpanel, settings):
    retained = dataclasses.replace(settings, TERMINATE_AFTER_DAYS=30.0)
    no_retention = dataclasses.replace(settings, TERMINATE_AFTER_DAYS=0.0)
    servers = Servers(settings)
    payload = seed_payload()
    body = mpanel.checkout(payload).json()
    sid, domain, email = body["subscriptionId"], payload["domain"], payload["customer"]["email"]
    mpanel.pay(body["checkoutSessionId"])
    mpanel.wait_until(sid, provisioningStatus="ready", deadline=180)
    [account] = servers.whm_accounts_for(domain)
    user = account["user"]
    # The customer's own file, and a message in their mailbox, before the cancellation.
    kept = Path(settings.SITES_HOME_ROOT) / user / "public_html" / "kept-by-customer.txt"
    kept.write_text("mine\n")
    maildir_new = Path(settings.MAILCORE_MAIL_ROOT) / domain / "admin" / "Maildir" / "new"
    maildir_new.mkdir(parents=True, exist_ok=True)
    message = maildir_new / f"{int(time.time())}.M1P1.e2e"
    message.write_text(f"From: a@example.net\nTo: admin@{domain}\nSubject: keep me\n\nhello\n")

    mpanel.stripe_control("webhooks", {"paused": True})
    try:
        first_stripe_sub = _row(settings, sid)["stripe_sub"]
        billing.client(settings).v1.subscriptions.cancel(first_stripe_sub)
        _process_stripe_event(mpanel, retained, "customer.subscription.deleted", first_stripe_sub)

        # Canceled: suspended at once, retained for 30 days, backed up with its files and mail.
        row = _row(settings, sid)
        assert row["status"] == "canceled" and row["terminate_after"] is not None
        wait_for(lambda: servers.whm_accounts_for(domain)[0]["suspended"] == 1, 120, "the account to be suspended")
        names = wait_for(lambda: _archive_names(servers, user) if any(
            f["user"] == user for f in servers.whm("list_cparchive_files")["data"]["quickrestore_files"]) else None,
            60, "the account's backup")
        assert f"cpmove-{user}/homedir/public_html/kept-by-customer.txt" in names
        assert f"cpmove-{user}/homedir/mail/{domain}/admin/Maildir/new/{message.name}" in names

        # Paying again within the retention period: the same order, account and files, switched back on.
        session = _pay_again(mpanel, retained, sid, domain, email)
        _process_stripe_event(mpanel, retained, "checkout.session.completed", session)
        row = _row(settings, sid)
        assert row["status"] == "active" and row["terminate_after"] is None and row["stripe_sub"] != first_stripe_sub
        wait_for(lambda: servers.whm_accounts_for(domain)[0]["suspended"] == 0, 120, "the account to be unsuspended")
        assert [a["user"] for a in servers.whm_accounts_for(domain)] == [user]
        assert kept.read_text() == "mine\n" and message.exists()

        # A second cancellation, with the retention period over: destroyed, nothing left but the backup.
        second_stripe_sub = row["stripe_sub"]
        billing.client(settings).v1.subscriptions.cancel(second_stripe_sub)
        _process_stripe_event(mpanel, no_retention, "customer.subscription.deleted", second_stripe_sub)
        assert _row(settings, sid)["status"] == "terminated"
        mpanel.wait_until(sid, provisioningStatus="destroyed", deadline=120)
        assert servers.whm_accounts_for(domain) == []
        assert servers.zone(domain) is None
        assert not (Path(settings.SITES_HOME_ROOT) / user).exists()
        # The last backup was taken right before the destroy, and is kept.
        assert f"cpmove-{user}/homedir/public_html/kept-by-customer.txt" in _archive_names(servers, user)
    finally:
        mpanel.stripe_control("webhooks", {"paused": False})
