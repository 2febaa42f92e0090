"""An imported account is managed like one mpanel built: the customer's plan change (through
Stripe, confirmed by its webhook) changes only the WHM account's package, and a cancellation keeps
everything (suspended) for the retention period, then ends it. Real engine, PowerDNS, mail core,
Dovecot, the WHM and Stripe stand-ins."""
from __future__ import annotations

import datetime as dt

import psycopg

from app.services.hosting.converge import Converger
from app.services.hosting.drift import refresh_and_preview
from app.services.hosting.engine import provider_config
from app.services.operators.imports import ImportRequest, import_account
from app.services.orders import billing, customer_billing
from app.services.orders.lifecycle import Outcome, enforce_deadlines
from providers.clients.powerdns import PowerDnsClient, live_rrsets
from providers.clients.whm import WhmClient
from tests.integration.billing.test_stripe_matching import _deliver
from tests.integration.imports.conftest import MAILBOX_PASSWORD, imap_messages
from tests.integration.imports.test_stripe_billing import billed_by_the_old_system, end, lenient, order  # noqa: F401


def _imported(settings, user: str, domain: str) -> tuple[int, str]:
    stripe_sub = billed_by_the_old_system(settings)
    done = import_account(settings, ImportRequest("1", user, f"owner@{domain}", billing=f"stripe:{stripe_sub}"))
    assert done.finished, done.outcome
    return done.subscription_id, stripe_sub


def _changes(found) -> dict[str, set[str]]:
    """Each resource the preview would change, with the inputs it would change (the engine's
    step events come in pairs; `takeover`, the import's first-run flag, is the engine's own
    bookkeeping and changes nothing upstream)."""
    changing: dict[str, set[str]] = {}
    for step in found.steps:
        if step.get("op") not in ("same", "refresh", "read", None):
            changing.setdefault(step["resource_name"], set()).update(
                k for k in (step.get("changes") or {}) if k != "takeover")
    return changing


def test_a_plan_change_on_an_imported_account_changes_only_its_package(lenient, db_conn, left_in_place):
    user, domain, site, message = left_in_place
    sid, stripe_sub = _imported(lenient, user, domain)
    config = provider_config(lenient)
    zone_before = live_rrsets(PowerDnsClient(config).get_zone(domain))
    site_before, message_before = site.read_bytes(), message.read_bytes()

    # The customer moves up from their billing page: Stripe first, the webhook changes the plan.
    user_id = db_conn.execute("SELECT c.user_id FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
                              "WHERE s.id = %s", (sid,)).fetchone()["user_id"]
    quote = customer_billing.preview_plan_change(lenient, user_id, sid, "shared_starter")
    customer_billing.change_plan(lenient, user_id, sid, "shared_starter", str(quote.proration_date))
    _deliver(lenient, "customer.subscription.updated", stripe_sub)
    assert db_conn.execute("SELECT p.slug FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.id = %s",
                           (sid,)).fetchone()["slug"] == "shared_starter"

    preview = refresh_and_preview(lenient, sid)
    assert preview.drift is True
    assert _changes(preview) == {"account": {"plan", "quota_mb"}}, _changes(preview)
    [account_step] = [s for s in preview.steps if s["resource_name"] == "account" and s.get("changes")]
    assert account_step["changes"]["plan"] == {"old": "mpanel_student", "new": "mpanel_starter"}

    Converger(lenient).converge(sid)
    account = WhmClient(config).find_account(user=user)
    assert account["plan"] == "mpanel_starter" and int(account.get("suspended") or 0) == 0
    assert live_rrsets(PowerDnsClient(config).get_zone(domain)) == zone_before
    assert site.read_bytes() == site_before and message.read_bytes() == message_before
    assert imap_messages(lenient, f"info@{domain}", MAILBOX_PASSWORD) == 1
    after = refresh_and_preview(lenient, sid)
    assert after.drift is False, _changes(after)
    end(lenient, db_conn, sid)


def test_a_canceled_import_is_kept_suspended_for_the_retention_period_then_ended(lenient, db_conn, left_in_place):
    user, domain, site, message = left_in_place
    sid, stripe_sub = _imported(lenient, user, domain)
    config = provider_config(lenient)

    billing.client(lenient).v1.subscriptions.cancel(stripe_sub)
    _deliver(lenient, "customer.subscription.deleted", stripe_sub)
    row = order(db_conn, sid)
    assert row["status"] == "canceled"
    kept_for = row["terminate_after"] - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=29) < kept_for <= dt.timedelta(days=30)

    Converger(lenient).converge(sid)  # what the queued converge does: suspended, nothing deleted
    account = WhmClient(config).find_account(user=user)
    assert int(account["suspended"]) == 1
    assert site.exists() and message.exists()
    assert PowerDnsClient(config).find_zone(domain) is not None
    with psycopg.connect(lenient.MAILCORE_DATABASE_URL) as conn:
        assert conn.execute("SELECT count(*) FROM mailboxes WHERE domain = %s", (domain,)).fetchone() == (1,)

    # Inside the retention period the sweep leaves it; past it, it is terminated and destroyed.
    outcome = Outcome()
    enforce_deadlines(db_conn, lenient, outcome, only=sid)
    assert order(db_conn, sid)["status"] == "canceled"
    db_conn.execute("UPDATE subscriptions SET terminate_after = now() - interval '1 second' WHERE id = %s", (sid,))
    enforce_deadlines(db_conn, lenient, outcome, only=sid)
    assert order(db_conn, sid)["status"] == "terminated" and sid in outcome.converge
    Converger(lenient).converge(sid)
    assert WhmClient(config).find_account(user=user) is None
    assert order(db_conn, sid)["provisioning_status"] == "destroyed"
