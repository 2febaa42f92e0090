"""A returning customer gets their site and mail back on their own, with no operator (issue 22):
with no retention (TERMINATE_AFTER_DAYS=0, as the suite's app and worker run) a cancellation
terminates the order and destroys its account at once, keeping the last backup; the same
customer checking out the same domain again with their account's email and password places a
new order, and that order's first converge restores the terminated order's last backup into the
new account (`restore_taken_back`, app/services/hosting/converge.py's after-up). The files are
read back from the new account's home and the messages over IMAP with the new mailbox password
the second welcome email gave; a stranger ordering the same domain afterwards gets none of it."""
from __future__ import annotations

from pathlib import Path

import re

import psycopg

from app.services.orders import billing
from tests.e2e.conftest import seed_payload, wait_for
from tests.e2e.test_backups_with_mail import _backups
from tests.e2e.test_termination_with_retention import _deliver, _imap_subjects, _paid_and_ready
from tests.integration.converge.conftest import Servers


def _mailbox_logins(mpanel, to: str) -> set[tuple[str, str]]:
    """Every (mailbox address, password) a welcome email to `to` gave (the SMTP server's maildir
    lists messages in no particular order, so a new one is told by what it says, not its place)."""
    found = (re.search(r"Email address:\s+(\S+)\s+Password:\s+(\S+)", m.get_body(("plain",)).get_content())
             for m in mpanel.mails_to(to))
    return {f.groups() for f in found if f}


def _new_mailbox_login(mpanel, to: str, known: set) -> tuple[str, str]:
    [login] = wait_for(lambda: (_mailbox_logins(mpanel, to) - known) or None, 90, f"a new welcome email to {to}")
    return login


def _stripe_subscription(settings, sid: int) -> str:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT stripe_subscription_id FROM subscriptions WHERE id = %s", (sid,)).fetchone()[0]


def _customer_of(settings, sid: int) -> int:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT customer_id FROM subscriptions WHERE id = %s", (sid,)).fetchone()[0]


def _home(settings, servers: Servers, domain: str) -> Path:
    [account] = servers.whm_accounts_for(domain)
    return Path(settings.SITES_HOME_ROOT) / account["user"] / "public_html"


def _cancel_and_wait_destroyed(mpanel, settings, servers: Servers, sid: int, domain: str) -> None:
    billing.client(settings).v1.subscriptions.cancel(_stripe_subscription(settings, sid))
    mpanel.wait_until(sid, status="terminated", provisioningStatus="destroyed", deadline=120)
    assert servers.whm_accounts_for(domain) == []


def test_a_customer_returning_after_termination_gets_site_and_mail_back_with_no_operator(mpanel, settings):
    assert settings.TERMINATE_AFTER_DAYS == 0
    servers = Servers(settings)
    payload, body = _paid_and_ready(mpanel)
    sid, domain, address = body["subscriptionId"], payload["domain"], payload["customer"]["email"]
    mailbox, password = _new_mailbox_login(mpanel, address, set())
    (_home(settings, servers, domain) / "kept.txt").write_text("mine\n")
    _deliver(settings, mailbox, password,
             f"From: a@example.net\r\nTo: {mailbox}\r\nSubject: keep me\r\n\r\nhello again\r\n".encode())

    _cancel_and_wait_destroyed(mpanel, settings, servers, sid, domain)
    [backup] = _backups(sid)
    assert backup["reason"] == "destroy"

    # The same customer (same email and password) checks out the same domain again: no order is
    # retained any more, so a new one is placed, billed to the same customer.
    again = mpanel.checkout(payload)
    assert again.status_code == 201, again.text
    new_sid = again.json()["subscriptionId"]
    assert new_sid != sid and not again.json().get("takeBack")
    assert _customer_of(settings, new_sid) == _customer_of(settings, sid)
    assert mpanel.pay(again.json()["checkoutSessionId"]).ok
    mpanel.wait_until(new_sid, provisioningStatus="ready", deadline=180)

    # Its first converge restored the terminated order's last backup: the files in the new
    # account's home, the messages in the mailbox (read with the password just mailed).
    assert (_home(settings, servers, domain) / "kept.txt").read_text() == "mine\n"
    mailbox, password = _new_mailbox_login(mpanel, address, {(mailbox, password)})
    assert "hello again" in _imap_subjects(settings, mailbox, password)["keep me"]

    # A stranger ordering the domain once that order is gone too gets an empty account.
    _cancel_and_wait_destroyed(mpanel, settings, servers, new_sid, domain)
    stranger = seed_payload(domain=domain)
    third = mpanel.checkout(stranger)
    assert third.status_code == 201, third.text
    assert mpanel.pay(third.json()["checkoutSessionId"]).ok
    mpanel.wait_until(third.json()["subscriptionId"], provisioningStatus="ready", deadline=180)
    assert not (_home(settings, servers, domain) / "kept.txt").exists()
    mailbox, password = _new_mailbox_login(mpanel, stranger["customer"]["email"], set())
    assert "keep me" not in _imap_subjects(settings, mailbox, password)
