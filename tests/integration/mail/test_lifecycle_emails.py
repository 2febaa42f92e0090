"""Suspended, reactivated, canceled: one short email per occurrence of each."""
from __future__ import annotations

import pytest

from app import mail
from tests.factories import make_subscription
from tests.integration.mail.outbox import flat, text_and_html

SUBJECTS = {
    "suspended": "Your hosting for {domain} is suspended",
    "reactivated": "Your hosting for {domain} is back online",
    "canceled": "Your hosting for {domain} has been canceled",
}


@pytest.mark.parametrize("kind", sorted(SUBJECTS))
def test_each_lifecycle_email_arrives_with_its_subject(kind, settings, db_conn, customer, outbox):
    subscription_id = make_subscription(db_conn, settings, status=kind if kind != "reactivated" else "active")
    who = customer(subscription_id)

    assert mail.send_lifecycle(settings, subscription_id, kind) is True

    [message] = outbox.wait_for(who["email"])
    assert message["Subject"] == SUBJECTS[kind].format(domain=who["domain"])
    for part in text_and_html(message):
        assert f"Hi {who['first_name']}," in part
        assert "support@migrahosting.com" in part


def test_a_repeated_call_for_the_same_occurrence_sends_nothing(settings, db_conn, customer, outbox):
    subscription_id = make_subscription(db_conn, settings, status="suspended")
    who = customer(subscription_id)

    assert mail.send_lifecycle(settings, subscription_id, "suspended") is True
    assert mail.send_lifecycle(settings, subscription_id, "suspended") is False

    assert len(outbox.wait_for(who["email"])) == 1


def test_a_second_suspension_after_a_reactivation_sends_a_new_email(settings, db_conn, customer, outbox):
    subscription_id = make_subscription(db_conn, settings, status="suspended")
    who = customer(subscription_id)

    for kind in ("suspended", "reactivated", "suspended"):
        assert mail.send_lifecycle(settings, subscription_id, kind) is True

    assert len(outbox.wait_for(who["email"], count=3)) == 3
    keys = [r["dedupe_key"] for r in db_conn.execute(
        "SELECT dedupe_key FROM emails_sent WHERE subscription_id = %s ORDER BY id", (subscription_id,))]
    assert keys == [f"suspended:{subscription_id}:0", f"reactivated:{subscription_id}:0",
                    f"suspended:{subscription_id}:1"]


def test_a_suspension_for_non_payment_asks_for_a_new_payment_method_and_names_the_deadline(
        settings, db_conn, customer, outbox):
    subscription_id = make_subscription(db_conn, settings, status="suspended")
    db_conn.execute("UPDATE subscriptions SET past_due_since = now() - interval '10 days', "
                    "terminate_after = timestamptz '2031-03-05 12:00Z' WHERE id = %s", (subscription_id,))
    who = customer(subscription_id)

    mail.send_lifecycle(settings, subscription_id, "suspended")

    [message] = outbox.wait_for(who["email"])
    for part in map(flat, text_and_html(message)):
        assert "couldn't collect the payment" in part
        assert "March 5, 2031" in part


def test_the_welcome_email_does_not_count_as_a_lifecycle_occurrence(settings, db_conn, customer, stack_outputs,
                                                                     outbox):
    subscription_id = make_subscription(db_conn, settings)
    who = customer(subscription_id)

    mail.send_welcome(settings, subscription_id, stack_outputs(who["domain"]))
    assert mail.send_lifecycle(settings, subscription_id, "reactivated") is True

    assert len(outbox.wait_for(who["email"], count=2)) == 2


def test_an_unknown_lifecycle_email_is_refused(settings, db_conn):
    subscription_id = make_subscription(db_conn, settings)

    with pytest.raises(ValueError, match="terminated"):
        mail.send_lifecycle(settings, subscription_id, "terminated")
