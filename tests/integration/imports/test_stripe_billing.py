"""An imported account linked to the Stripe subscription another system bills it with (`--billing
stripe:<id>`): the link is checked against Stripe before anything is written, and once made the
order follows its renewals, failures and cancellations as any order does (the Stripe stand-in's
test clock, its own events recorded and processed as the webhook and worker would)."""
from __future__ import annotations

import dataclasses

import psycopg
import pytest
import requests

from app import db
from app.db.orders import plans
from app.services.hosting.converge import Converger
from app.services.operators.imports import ImportRefused, ImportRequest, import_account
from app.services.orders import billing
from tests.integration.billing.test_stripe_matching import _active_order, _deliver, _pay, _session_made_elsewhere


@pytest.fixture
def lenient(settings):
    """A grace period and a retention period, as a business runs (the suite's default is zero)."""
    return dataclasses.replace(settings, SUSPEND_AFTER_DAYS=7.0, TERMINATE_AFTER_DAYS=30.0)


def billed_by_the_old_system(settings, plan_slug: str = "shared_student", cycle: str = "monthly") -> str:
    """A Stripe subscription as the other billing system made it: the plan's own Stripe price
    (recorded on the plan, as our checkout records it), paid by card; its id."""
    with db.transaction(settings.DATABASE_URL) as conn:
        price = billing.price_for(conn, settings, plans.active_by_slug(conn, plan_slug), cycle)
    session = _session_made_elsewhere(settings, price)
    return _pay(settings, session)["subscription"]


def advance(settings, stripe_sub: str, outcome: str) -> dict:
    answer = requests.post(f"{settings.STRIPE_API_BASE}/_sandbox/subscriptions/{stripe_sub}/advance",
                           json={"outcome": outcome}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def order(db_conn, sid: int) -> dict:
    return db_conn.execute("SELECT * FROM subscriptions WHERE id = %s", (sid,)).fetchone()


def end(settings, db_conn, sid: int) -> None:
    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    Converger(settings).converge(sid)


def test_an_import_linked_to_a_stripe_subscription_follows_its_failed_and_paid_renewals(lenient, db_conn,
                                                                                         left_in_place):
    user, domain, _site, _message = left_in_place
    stripe_sub = billed_by_the_old_system(lenient)
    remote = billing.retrieve_subscription(lenient, stripe_sub)

    done = import_account(lenient, ImportRequest("1", user, f"owner@{domain}", billing=f"stripe:{stripe_sub}"))
    assert done.finished, done.outcome
    sid = done.subscription_id
    row = order(db_conn, sid)
    assert (row["status"], row["billed_externally"], row["stripe_subscription_id"], row["stripe_customer_id"]) == \
        ("active", False, stripe_sub, remote.customer)
    assert row["current_period_end"] is not None and row["billing_cycle"] == "monthly"
    assert db_conn.execute("SELECT billing FROM account_imports WHERE subscription_id = %s",
                           (sid,)).fetchone()["billing"] == f"stripe:{stripe_sub}"

    failed = advance(lenient, stripe_sub, "renewal_failed")
    _deliver(lenient, "invoice.payment_failed", failed["invoice"]["id"])
    row = order(db_conn, sid)
    assert row["status"] == "past_due" and row["past_due_since"] is not None
    assert row["failed_payment"]["pay_url"] == failed["invoice"]["hosted_invoice_url"]

    period_before = row["current_period_end"]
    paid = advance(lenient, stripe_sub, "renewal_paid")
    _deliver(lenient, "invoice.paid", paid["invoice"]["id"])
    row = order(db_conn, sid)
    assert (row["status"], row["past_due_since"], row["failed_payment"]) == ("active", None, None)
    assert row["current_period_end"] >= period_before

    # A renewal paid on time moves the period on.
    renewed = advance(lenient, stripe_sub, "renewal_paid")
    _deliver(lenient, "invoice.paid", renewed["invoice"]["id"])
    assert order(db_conn, sid)["current_period_end"] > row["current_period_end"]
    end(lenient, db_conn, sid)


def test_a_stripe_subscription_that_cannot_be_linked_is_refused_naming_the_billing_and_nothing_is_written(
        lenient, db_conn, left_in_place):
    user, domain, _site, _message = left_in_place
    other_plan = billed_by_the_old_system(lenient, plan_slug="shared_business")
    canceled = billed_by_the_old_system(lenient)
    billing.client(lenient).v1.subscriptions.cancel(canceled)

    for given, words in [("stripe:sub_NoSuchOne", "Stripe has no subscription sub_NoSuchOne"),
                         (f"stripe:{canceled}", "is canceled"),
                         (f"stripe:{other_plan}", "the plan shared_business's, the account is on shared_student")]:
        with pytest.raises(ImportRefused) as refused:
            import_account(lenient, ImportRequest("1", user, f"owner@{domain}", billing=given))
        assert refused.value.field == "billing", refused.value.message
        assert words in refused.value.message and refused.value.message.startswith(f"--billing {given}")
    assert db_conn.execute("SELECT count(*) AS n FROM domains WHERE name = %s", (domain,)).fetchone()["n"] == 0
    with psycopg.connect(lenient.MAILCORE_DATABASE_URL) as conn:
        assert conn.execute("SELECT owner FROM mail_domains WHERE name = %s", (domain,)).fetchone() == (None,)


def test_a_stripe_subscription_another_order_holds_cannot_bill_an_import(lenient, db_conn, left_in_place):
    user, domain, _site, _message = left_in_place
    holder, stripe_sub = _active_order(lenient, db_conn)  # paid through our own checkout
    try:
        with pytest.raises(ImportRefused, match=f"already bills sub-{holder}") as refused:
            import_account(lenient, ImportRequest("1", user, f"owner@{domain}", billing=f"stripe:{stripe_sub}"))
        assert refused.value.field == "billing"
        assert db_conn.execute("SELECT count(*) AS n FROM domains WHERE name = %s", (domain,)).fetchone()["n"] == 0
    finally:  # never built: the worker's straggler sweep must not build it later
        db_conn.execute("UPDATE subscriptions SET status = 'terminated', provisioning_status = 'destroyed' "
                        "WHERE id = %s", (holder,))
