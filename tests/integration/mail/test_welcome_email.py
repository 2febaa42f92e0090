"""The welcome email: every login the customer needs, delivered exactly once, through the real SMTP server."""
from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import mail
from tests.factories import make_subscription, unique_domain
from tests.integration.mail.outbox import closed_port, flat, text_and_html

def welcome(settings, db_conn, customer, stack_outputs, mode="external"):
    subscription_id = make_subscription(db_conn, settings, mode=mode)
    who = customer(subscription_id)
    outputs = stack_outputs(who["domain"])
    return subscription_id, who, outputs


def test_the_welcome_email_arrives_as_text_and_html_with_every_login_the_customer_needs(
        settings, db_conn, customer, stack_outputs, outbox):
    subscription_id, who, outputs = welcome(settings, db_conn, customer, stack_outputs)

    assert mail.send_welcome(settings, subscription_id, outputs) is True

    [message] = outbox.wait_for(who["email"])
    assert message["Subject"] == f"Welcome to MigraHosting: your hosting for {who['domain']} is ready"
    assert message["From"] == settings.SMTP_FROM
    assert message["Message-ID"] and message["Date"]
    text, html = text_and_html(message)
    for part in (text, html):
        for value in (outputs["cpanel_url"], outputs["cpanel_username"], outputs["cpanel_password"],
                      outputs["mailbox_address"], outputs["mailbox_password"], settings.APP_URL, who["email"],
                      "Shared Student", "support@migrahosting.com", "https://migrahosting.com/help/install-wordpress"):
            assert value in part
    assert "password you chose at checkout" in flat(text)


def test_the_welcome_email_is_recorded_with_its_message_id(settings, db_conn, customer, stack_outputs, outbox):
    subscription_id, who, outputs = welcome(settings, db_conn, customer, stack_outputs)

    mail.send_welcome(settings, subscription_id, outputs)

    [message] = outbox.wait_for(who["email"])
    row = db_conn.execute("SELECT * FROM emails_sent WHERE dedupe_key = %s", (f"welcome:{subscription_id}",)).fetchone()
    assert (row["kind"], row["recipient"], row["subject"], row["message_id"]) == (
        "welcome", who["email"], message["Subject"], message["Message-ID"])


def test_the_welcome_email_never_contains_the_password_the_customer_chose_at_checkout(
        settings, db_conn, customer, stack_outputs, outbox):
    subscription_id, who, outputs = welcome(settings, db_conn, customer, stack_outputs)

    mail.send_welcome(settings, subscription_id, outputs)

    [message] = outbox.wait_for(who["email"])
    assert "TestPassword123!" not in message.as_string()  # tests/factories.py's checkout password


@pytest.mark.parametrize("mode", ["external", "transfer"])
def test_a_domain_hosted_elsewhere_gets_nameserver_instructions(mode, settings, db_conn, customer, stack_outputs,
                                                                outbox):
    subscription_id, who, outputs = welcome(settings, db_conn, customer, stack_outputs, mode=mode)

    mail.send_welcome(settings, subscription_id, outputs)

    [message] = outbox.wait_for(who["email"])
    for part in text_and_html(message):
        assert settings.NS1 in part and settings.NS2 in part
        assert "Nameserver 1" in part
    text, _ = text_and_html(message)
    expected = f"transfer of {who['domain']} is under way" if mode == "transfer" else f"point {who['domain']} to us"
    assert expected in flat(text)


@pytest.mark.parametrize("mode", ["external", "transfer"])
def test_a_domain_waiting_for_proof_of_control_is_told_what_to_publish_and_why(mode, settings, db_conn, customer,
                                                                                stack_outputs, outbox):
    subscription_id, who, outputs = welcome(settings, db_conn, customer, stack_outputs, mode=mode)
    token = db_conn.execute("SELECT control_token FROM domains WHERE subscription_id = %s",
                            (subscription_id,)).fetchone()["control_token"]

    mail.send_welcome(settings, subscription_id, outputs)

    [message] = outbox.wait_for(who["email"])
    for part in map(flat, text_and_html(message)):
        assert f"_mpanel-verify.{who['domain']}" in part and token in part
        assert "not delivered to your mailboxes" in part and "Check now" in part
        assert settings.NS1 in part


def test_a_proven_domain_gets_no_proof_instructions(settings, db_conn, customer, stack_outputs, outbox):
    subscription_id, who, outputs = welcome(settings, db_conn, customer, stack_outputs, mode="external")
    db_conn.execute("UPDATE domains SET control_proven_at = now(), control_proven_by = 'txt' "
                    "WHERE subscription_id = %s", (subscription_id,))

    mail.send_welcome(settings, subscription_id, outputs)

    [message] = outbox.wait_for(who["email"])
    for part in map(flat, text_and_html(message)):
        assert "_mpanel-verify" not in part and "not delivered to your mailboxes" not in part


def test_a_newly_registered_domain_gets_no_nameserver_instructions(settings, db_conn, customer, stack_outputs,
                                                                   outbox):
    subscription_id, who, outputs = welcome(settings, db_conn, customer, stack_outputs, mode="new_registration")

    mail.send_welcome(settings, subscription_id, outputs)

    [message] = outbox.wait_for(who["email"])
    for part in map(flat, text_and_html(message)):
        assert settings.NS1 not in part and settings.NS2 not in part
        assert "already points to our nameservers" in part


def test_sending_the_welcome_email_twice_delivers_it_once(settings, db_conn, customer, stack_outputs, outbox):
    subscription_id, who, outputs = welcome(settings, db_conn, customer, stack_outputs)

    assert mail.send_welcome(settings, subscription_id, outputs) is True
    assert mail.send_welcome(settings, subscription_id, outputs) is False

    assert len(outbox.wait_for(who["email"])) == 1
    assert db_conn.execute("SELECT count(*) AS n FROM emails_sent WHERE subscription_id = %s",
                           (subscription_id,)).fetchone()["n"] == 1


def test_concurrent_welcome_sends_deliver_exactly_one_message(settings, db_conn, customer, stack_outputs, outbox):
    subscription_id, who, outputs = welcome(settings, db_conn, customer, stack_outputs)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: mail.send_welcome(settings, subscription_id, outputs), range(4)))

    assert sorted(results) == [False, False, False, True]
    assert len(outbox.wait_for(who["email"])) == 1


def test_an_smtp_failure_raises_records_nothing_and_a_later_call_sends(settings, db_conn, customer, stack_outputs,
                                                                      outbox):
    subscription_id, who, outputs = welcome(settings, db_conn, customer, stack_outputs)
    unreachable = dataclasses.replace(settings, SMTP_PORT=closed_port())

    with pytest.raises(mail.EmailNotSent, match=who["email"]):
        mail.send_welcome(unreachable, subscription_id, outputs)

    assert db_conn.execute("SELECT count(*) AS n FROM emails_sent WHERE dedupe_key = %s",
                           (f"welcome:{subscription_id}",)).fetchone()["n"] == 0
    assert outbox.to(who["email"]) == []
    assert mail.send_welcome(settings, subscription_id, outputs) is True
    assert len(outbox.wait_for(who["email"])) == 1


def test_a_customer_name_is_escaped_in_the_html_and_kept_as_written_in_the_text(
        settings, db_conn, customer, stack_outputs, outbox):
    subscription_id, who, outputs = welcome(settings, db_conn, customer, stack_outputs)
    name = "<script>alert('x')</script>"
    db_conn.execute("UPDATE customers SET first_name = %s WHERE id = %s", (name, who["customer_id"]))

    mail.send_welcome(settings, subscription_id, outputs)

    [message] = outbox.wait_for(who["email"])
    text, html = text_and_html(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert f"Welcome, {name}!" in text


def test_the_welcome_subject_is_folded_only_where_its_line_would_be_too_long(
        settings, db_conn, customer, stack_outputs, outbox):
    domain = unique_domain("foldsubject")  # 24 characters: the subject fits a line of its own, not after "Subject: "
    subscription_id = make_subscription(db_conn, settings, domain=domain)
    who = customer(subscription_id)

    mail.send_welcome(settings, subscription_id, stack_outputs(domain))

    outbox.wait_for(who["email"])
    [raw] = outbox.raw_to(who["email"])
    subject = raw[raw.index(b"\nSubject:") + 1:].split(b"\n")
    assert subject[0].startswith(b"Subject: Welcome to MigraHosting:") and len(subject[0].rstrip(b"\r")) <= 78
    assert subject[1].strip() == b"ready"  # only the last word did not fit


def test_no_welcome_is_owed_once_the_hosting_was_destroyed(settings, db_conn, queue):
    """Terminated before its welcome went out (a 0-day termination, a chargeback): the queued
    welcome ends instead of failing forever on a stack that no longer exists."""
    from app.jobs.tasks import send_welcome_email

    subscription_id = make_subscription(db_conn, settings)  # never converged: it has no stack
    db_conn.execute("UPDATE subscriptions SET status = 'terminated', provisioning_status = 'destroyed' "
                    "WHERE id = %s", (subscription_id,))

    assert send_welcome_email.func.__wrapped__(subscription_id=subscription_id) is False  # the task's own function
    assert db_conn.execute("SELECT count(*) AS n FROM emails_sent WHERE subscription_id = %s",
                           (subscription_id,)).fetchone()["n"] == 0


def test_the_welcome_sends_the_logins_its_run_kept_and_then_forgets_them(settings, db_conn, customer, stack_outputs,
                                                                          queue, outbox):
    """No stack to read here: the logins can only come from what the run kept."""
    from app.jobs.tasks import send_welcome_email
    from app.services.hosting import welcome_logins

    subscription_id, who, outputs = welcome(settings, db_conn, customer, stack_outputs)
    welcome_logins.keep(db_conn, settings, subscription_id, outputs)

    assert send_welcome_email.func.__wrapped__(subscription_id=subscription_id) is True
    [message] = outbox.wait_for(who["email"])
    assert outputs["cpanel_password"] in flat(text_and_html(message)[0])
    assert db_conn.execute("SELECT count(*) AS n FROM welcome_logins WHERE subscription_id = %s",
                           (subscription_id,)).fetchone()["n"] == 0
