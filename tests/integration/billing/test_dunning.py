"""Dunning before suspension, warnings before removal, domain expiry reminders and suspension with
a reason (issue 26 items 1-4), against the Stripe stand-in's test clock, PostgreSQL and the SMTP
server. The schedule's days are passed as `now` to the hourly sweep (the e2e settings suspend at
once, SUSPEND_AFTER_DAYS=0, which leaves no days to remind on)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

import pytest
import requests

from app.mail import notices as customer_notices
from app.services.notices import send_due_notices
from app.services.operators import console_actions
from app.services.operators.staff import StaffSession
from app.services.orders.lifecycle import Outcome, enforce_deadlines
from tests.factories import make_subscription
from tests.integration.billing.test_stripe_matching import _active_order, _deliver, _order, _our_checkout
from tests.integration.mail.outbox import Outbox, flat, text_and_html

DAY = dt.timedelta(days=1)


@pytest.fixture
def dunning(settings):
    return dataclasses.replace(settings, SUSPEND_AFTER_DAYS=7.0, DUNNING_REMINDER_DAYS="1,3,-1",
                               TERMINATE_AFTER_DAYS=30.0, TERMINATION_WARNING_DAYS=3.0,
                               DOMAIN_EXPIRY_REMINDER_DAYS="30,7", OPS_EMAIL="ops@example.net")


@pytest.fixture
def outbox(settings) -> Outbox:
    return Outbox(settings.SMTP_MAILDIR)


# Orders made here are ended afterwards (tests/integration/billing/conftest.py).
pytestmark = pytest.mark.usefixtures("nothing_left_to_build")


def _advance(settings, stripe_sub: str, outcome: str) -> dict:
    answer = requests.post(f"{settings.STRIPE_API_BASE}/_sandbox/subscriptions/{stripe_sub}/advance",
                           json={"outcome": outcome}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _email_of(db_conn, sid: int) -> str:
    return db_conn.execute("SELECT u.email FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
                           "JOIN users u ON u.id = c.user_id WHERE s.id = %s", (sid,)).fetchone()["email"]


def _sent(db_conn, sid: int, kind: str) -> list[str]:
    return [r["dedupe_key"] for r in db_conn.execute(
        "SELECT dedupe_key FROM emails_sent WHERE subscription_id = %s AND kind = %s ORDER BY id", (sid, kind))]


def _failed_renewal(dunning, db_conn) -> tuple[int, str, dict]:
    sid, stripe_sub = _active_order(dunning, db_conn)
    advanced = _advance(dunning, stripe_sub, "renewal_failed")
    _deliver(dunning, "invoice.payment_failed", advanced["invoice"]["id"])
    return sid, stripe_sub, advanced["invoice"]


def test_a_failed_renewal_is_told_at_once_reminded_on_schedule_suspended_on_the_day_and_ended_by_a_payment(
        dunning, db_conn, outbox):
    sid, stripe_sub, invoice = _failed_renewal(dunning, db_conn)
    row = _order(db_conn, sid)
    assert row["status"] == "past_due" and row["failed_payment"]["pay_url"] == invoice["hosted_invoice_url"]
    since, to = row["past_due_since"], _email_of(db_conn, sid)
    queued = db_conn.execute("SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'send_payment_failed_notice' "
                             "AND args->>'subscription_id' = %s", (str(sid),)).fetchone()["n"]
    assert queued == 1  # asked for in the event's transaction

    assert customer_notices.send_payment_failed(dunning, sid) is True
    assert customer_notices.send_payment_failed(dunning, sid) is False
    [notice] = outbox.wait_for(to)
    text, html = text_and_html(notice)
    suspend_on = since + 7 * DAY
    assert notice["Subject"].startswith("We couldn't collect your payment")
    for part in (flat(text), html):
        assert invoice["hosted_invoice_url"] in part
        assert f"{suspend_on:%B} {suspend_on.day}, {suspend_on.year}" in part
        assert f"{invoice['amount_remaining'] / 100:,.2f} USD" in part
    assert row["failed_payment"]["reason"] in flat(text)
    assert requests.get(invoice["hosted_invoice_url"], timeout=10).status_code == 200  # the pay link works

    for at, expected in ((0.5, []), (1.2, ["day-1"]), (2, ["day-1"]), (3.5, ["day-1", "day-3"]),
                         (6.2, ["day-1", "day-3", "day-6"]), (6.9, ["day-1", "day-3", "day-6"])):
        send_due_notices(dunning, now=since + at * DAY)
        assert [k.rsplit(":", 1)[1] for k in _sent(db_conn, sid, "payment_reminder")] == expected, at
    subjects = [m["Subject"] for m in outbox.wait_for(to, count=4)]
    assert len(subjects) == 4 and sum(s.startswith("Final notice:") for s in subjects) == 1

    # The day announced: the deadline's sweep suspends, for billing.
    db_conn.execute("UPDATE subscriptions SET past_due_since = now() - interval '7 days' - interval '1 second' "
                    "WHERE id = %s", (sid,))
    outcome = Outcome()
    enforce_deadlines(db_conn, dunning, outcome, only=sid)
    row = _order(db_conn, sid)
    assert (row["status"], row["suspended_by"], row["suspend_reason"]) == ("suspended", "billing",
                                                                          "Billing: payment overdue")
    assert (sid, "suspended") in outcome.emails

    # One payment ends it all: reactivated, the failure forgotten, no reminder after it.
    paid = _advance(dunning, stripe_sub, "renewal_paid")
    _deliver(dunning, "invoice.paid", paid["invoice"]["id"])
    row = _order(db_conn, sid)
    assert (row["status"], row["suspended_by"], row["failed_payment"], row["past_due_since"]) == \
        ("active", None, None, None)
    send_due_notices(dunning, now=since + 6.5 * DAY)
    assert len(_sent(db_conn, sid, "payment_reminder")) == 3


def test_a_payment_before_the_notice_goes_out_stops_it(dunning, db_conn, outbox):
    sid, stripe_sub, _ = _failed_renewal(dunning, db_conn)
    paid = _advance(dunning, stripe_sub, "renewal_paid")
    _deliver(dunning, "invoice.paid", paid["invoice"]["id"])
    assert customer_notices.send_payment_failed(dunning, sid) is False
    assert _sent(db_conn, sid, "payment_failed") == []


def test_a_staff_suspension_has_its_reason_and_is_not_lifted_by_a_payment(dunning, db_conn):
    sid, stripe_sub, _ = _failed_renewal(dunning, db_conn)
    staff_id = db_conn.execute("INSERT INTO staff_users (email, role) VALUES (%s, 'admin') RETURNING id",
                               (f"admin-{secrets.token_hex(3)}@example.net",)).fetchone()["id"]
    who = StaffSession(staff_id=staff_id, email="admin@example.net", role="admin", csrf="x", id_hash="x")
    with pytest.raises(console_actions.ActionRefused):
        console_actions.perform(dunning, who, "suspend", sid, reason="  ")
    console_actions.perform(dunning, who, "suspend", sid, reason="phishing pages reported")
    row = _order(db_conn, sid)
    assert (row["status"], row["suspended_by"], row["suspend_reason"]) == ("suspended", "staff",
                                                                          "phishing pages reported")

    paid = _advance(dunning, stripe_sub, "renewal_paid")
    _deliver(dunning, "invoice.paid", paid["invoice"]["id"])
    assert _order(db_conn, sid)["status"] == "suspended"  # until staff lift it

    console_actions.perform(dunning, who, "unsuspend", sid)
    row = _order(db_conn, sid)
    assert (row["status"], row["suspended_by"], row["suspend_reason"]) == ("active", None, None)


def test_a_canceled_order_is_warned_before_removal_once_and_the_operators_get_the_days_list(
        dunning, db_conn, outbox):
    sid = make_subscription(db_conn, dunning, status="canceled")
    # A day of its own (the operators' list is once a day: an earlier run's day already had one).
    days = 10 + secrets.randbelow(100000)
    end = db_conn.execute("UPDATE subscriptions SET terminate_after = now() + make_interval(days => %s) "
                          "WHERE id = %s RETURNING terminate_after", (days, sid)).fetchone()["terminate_after"]
    to = _email_of(db_conn, sid)

    send_due_notices(dunning, now=end - 5 * DAY)
    assert _sent(db_conn, sid, "termination_warning") == []
    send_due_notices(dunning, now=end - 2 * DAY)
    send_due_notices(dunning, now=end - 1.5 * DAY)
    assert len(_sent(db_conn, sid, "termination_warning")) == 1
    [warning] = outbox.wait_for(to)
    text, html = text_and_html(warning)
    assert f"{end:%B} {end.day}, {end.year}" in warning["Subject"]
    assert "Order" in text and "again before then with this email address" in flat(text)

    day = end - 12 * dt.timedelta(hours=1)
    send_due_notices(dunning, now=day)
    [ops] = [m for m in outbox.wait_for("ops@example.net") if f"{day:%Y-%m-%d}" in m["Subject"]]
    assert f"subscription {sid}" in flat(text_and_html(ops)[0])
    send_due_notices(dunning, now=day)
    assert len([m for m in outbox.to("ops@example.net") if f"{day:%Y-%m-%d}" in m["Subject"]]) == 1


def test_a_domain_expiring_in_7_days_with_auto_renew_off_is_reminded_once(dunning, db_conn, outbox):
    sid = make_subscription(db_conn, dunning, mode="new_registration")
    domain = db_conn.execute("UPDATE domains SET status = 'active', auto_renew = false, "
                             "expires_at = date_trunc('day', now()) + interval '7 days' "
                             "WHERE subscription_id = %s RETURNING name, expires_at", (sid,)).fetchone()
    now = domain["expires_at"] - 6.5 * DAY
    send_due_notices(dunning, now=now)
    send_due_notices(dunning, now=now + dt.timedelta(hours=1))
    assert [k.rsplit(":", 1)[1] for k in _sent(db_conn, sid, "domain_expiry")] == ["7-days"]
    [reminder] = outbox.wait_for(_email_of(db_conn, sid))
    assert reminder["Subject"].startswith(f"{domain['name']} expires on")
    assert "auto-renew is off" in flat(text_and_html(reminder)[0])


def test_a_domain_with_auto_renew_on_gets_no_reminder(dunning, db_conn):
    sid = make_subscription(db_conn, dunning, mode="new_registration")
    db_conn.execute("UPDATE domains SET status = 'active', auto_renew = NULL, expires_at = now() + interval '7 days' "
                    "WHERE subscription_id = %s", (sid,))
    send_due_notices(dunning)
    assert _sent(db_conn, sid, "domain_expiry") == []


def _order_paid_with_card(settings, db_conn, exp_month: int, exp_year: int) -> int:
    """An order paid through its own checkout with a card expiring then; its domain a live
    registration through us with auto-renew on, expiring in 60 days."""
    placed = _our_checkout(settings)
    answer = requests.post(f"{settings.STRIPE_API_BASE}/_sandbox/checkout/{placed['checkoutSessionId']}/pay",
                           json={"card": "4242 4242 4242 4242", "exp_month": exp_month, "exp_year": exp_year},
                           timeout=30)
    assert answer.status_code == 200, answer.text
    _deliver(settings, "checkout.session.completed", placed["checkoutSessionId"])
    sid = placed["subscriptionId"]
    db_conn.execute("UPDATE domains SET mode = 'new_registration', status = 'active', auto_renew = NULL, "
                    "expires_at = date_trunc('day', now()) + interval '60 days' WHERE subscription_id = %s", (sid,))
    return sid


def _domain(db_conn, sid: int) -> dict:
    return db_conn.execute("SELECT name, expires_at, card_lapses_before_renewal FROM domains WHERE subscription_id = %s",
                           (sid,)).fetchone()


def test_a_card_expiring_before_the_domain_renews_gets_the_reminder_once_and_the_panel_notice(dunning, db_conn,
                                                                                              outbox):
    today = dt.datetime.now(dt.timezone.utc)
    sid = _order_paid_with_card(dunning, db_conn, today.month, today.year)  # good only to the end of this month
    domain = _domain(db_conn, sid)
    now = domain["expires_at"] - 29.5 * DAY
    send_due_notices(dunning, now=now - 2 * DAY)  # no step due yet: Stripe not asked, nothing recorded
    assert _domain(db_conn, sid)["card_lapses_before_renewal"] is None
    send_due_notices(dunning, now=now)
    send_due_notices(dunning, now=now + dt.timedelta(hours=1))
    assert [k.rsplit(":", 1)[1] for k in _sent(db_conn, sid, "domain_expiry")] == ["30-days"]
    card = f"Visa ending 4242, expires {today.month:02d}/{today.year}"
    assert _domain(db_conn, sid)["card_lapses_before_renewal"] == card
    [reminder] = outbox.wait_for(_email_of(db_conn, sid))
    text, html = text_and_html(reminder)
    assert reminder["Subject"].startswith(f"{domain['name']} expires on")
    assert card in flat(text) and "auto-renew is off" not in flat(text)
    assert f"/sites/{sid}/billing" in text and f"/sites/{sid}/billing" in html


def test_a_card_that_lasts_past_the_renewal_gets_no_reminder_and_clears_the_panel_notice(dunning, db_conn):
    today = dt.datetime.now(dt.timezone.utc)
    sid = _order_paid_with_card(dunning, db_conn, today.month, today.year + 3)
    db_conn.execute("UPDATE domains SET card_lapses_before_renewal = 'Visa ending 0000, expires 01/2020' "
                    "WHERE subscription_id = %s", (sid,))  # what an earlier card left
    send_due_notices(dunning, now=_domain(db_conn, sid)["expires_at"] - 6.5 * DAY)
    assert _sent(db_conn, sid, "domain_expiry") == []
    assert _domain(db_conn, sid)["card_lapses_before_renewal"] is None
