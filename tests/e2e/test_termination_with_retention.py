"""Termination with a way back (architecture decision 6): a cancellation suspends the account at
once and backs it up; the same customer checking out again for the same domain through the public
checkout within the retention period takes the order back (a new Stripe session attached to it)
and, once paid, gets the same account back with its files and mail (read over IMAP); anyone else
is refused that domain; once the period has passed the stack is destroyed and only the backup is left.

The app and worker run with TERMINATE_AFTER_DAYS=0 (tests/conftest.py); this journey needs a
retention period, so Stripe's deliveries are held and each Stripe event is processed by the real
handlers with the settings this test chooses (30 days, then 0 for the final cancellation). The
worker still does every converge, and every check reads the servers themselves.
"""
from __future__ import annotations

import dataclasses
import email
import imaplib
import re
import tarfile
import time
from pathlib import Path

import psycopg

from app import db
from app.db.orders import stripe_events
from app.services.hosting import account_backups
from app.services.orders import billing, lifecycle
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


def _archive_names(servers: Servers, user: str, since: int = 0) -> set[str] | None:
    """The names in the user's archive, once it was written at or after `since` (epoch
    seconds): the stand-in's backup directory can still hold an archive an earlier account
    of the same name left."""
    files = servers.whm("list_cparchive_files")["data"]["quickrestore_files"]
    listed = next((f for f in files if f["user"] == user and f["mtime"] >= since), None)
    if listed is None:
        return None
    with tarfile.open(Path(listed["path"]) / listed["file"]) as tar:
        return set(tar.getnames())


def _rows(settings) -> tuple:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM subscriptions), "
                            "(SELECT count(*) FROM domains)").fetchone()


def _refused_by_checkout(mpanel, settings, payload: dict, status: int, field: str) -> None:
    before = _rows(settings)
    answer = mpanel.checkout(payload)
    assert answer.status_code == status and answer.json()["field"] == field, answer.text
    assert _rows(settings) == before


def _paid_and_ready(mpanel) -> tuple[dict, dict]:
    """A seed checkout, paid, its site provisioned: (payload, the checkout's answer)."""
    payload = seed_payload()
    body = mpanel.checkout(payload).json()
    mpanel.pay(body["checkoutSessionId"])
    mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready", deadline=180)
    return payload, body


def _mailbox_login(mpanel, to: str) -> tuple[str, str]:
    """The mailbox address and password the welcome email gave the customer."""
    [welcome] = wait_for(lambda: mpanel.mails_to(to), 60, "the welcome email")
    found = re.search(r"Email address:\s+(\S+)\s+Password:\s+(\S+)", welcome.get_body(("plain",)).get_content())
    return found.group(1), found.group(2)


def _imap(settings, address: str, password: str) -> imaplib.IMAP4:
    host, port = settings.IMAP_ADDRESS.split(":")
    imap = imaplib.IMAP4(host, int(port), timeout=10)
    imap.login(address, password)
    return imap


def _deliver(settings, address: str, password: str, raw: bytes) -> None:
    """Put a message in the mailbox's INBOX as its owner does, over IMAP (Dovecot writes the file)."""
    imap = _imap(settings, address, password)
    try:
        assert imap.append("INBOX", None, None, raw)[0] == "OK"
    finally:
        imap.logout()


def _imap_subjects(settings, address: str, password: str) -> dict[str, str]:
    """Subject -> body of every message in the mailbox's INBOX, read over IMAP (Dovecot)."""
    imap = _imap(settings, address, password)
    try:
        assert imap.select("INBOX", readonly=True)[0] == "OK"
        found = {}
        for number in imap.search(None, "ALL")[1][0].split():
            message = email.message_from_bytes(imap.fetch(number, "(RFC822)")[1][0][1])
            found[message["Subject"]] = message.get_payload()
        return found
    finally:
        imap.logout()


def _take_back_through_checkout(mpanel, settings, payload: dict, sid: int, first_session: str) -> str:
    """The returning customer posts the same checkout again: the retained order (not a new one)
    gets a new Stripe session, under its own idempotency key, paid by card on Stripe's page."""
    answer = mpanel.checkout(payload)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["subscriptionId"] == sid and body["takeBack"] is True and body["status"] == "canceled"
    session = body["checkoutSessionId"]
    assert session != first_session and body["checkoutUrl"]
    assert billing.retrieve_session(settings, session).metadata["take_back"] == "1"
    assert mpanel.pay(session).ok
    return session


def test_cancel_suspend_back_up_pay_again_same_account_then_destroy_after_retention(mpanel, settings):
    retained = dataclasses.replace(settings, TERMINATE_AFTER_DAYS=30.0)
    no_retention = dataclasses.replace(settings, TERMINATE_AFTER_DAYS=0.0)
    servers = Servers(settings)
    payload, body = _paid_and_ready(mpanel)
    sid, domain, address = body["subscriptionId"], payload["domain"], payload["customer"]["email"]
    mailbox, mailbox_password = _mailbox_login(mpanel, address)
    [account] = servers.whm_accounts_for(domain)
    user = account["user"]
    # The customer's own file, and a message in their mailbox, before the cancellation.
    kept = Path(settings.SITES_HOME_ROOT) / user / "public_html" / "kept-by-customer.txt"
    kept.write_text("mine\n")
    _deliver(settings, mailbox, mailbox_password,
             f"From: a@example.net\r\nTo: {mailbox}\r\nSubject: keep me\r\n\r\nhello\r\n".encode())
    maildir = Path(settings.MAILCORE_MAIL_ROOT) / domain / "admin" / "Maildir"
    [message] = [m.relative_to(maildir) for m in (maildir / "new").iterdir()]  # as Dovecot stored it

    mpanel.stripe_control("webhooks", {"paused": True})
    try:
        first_stripe_sub = _row(settings, sid)["stripe_sub"]
        canceled_at = int(time.time())
        billing.client(settings).v1.subscriptions.cancel(first_stripe_sub)
        _process_stripe_event(mpanel, retained, "customer.subscription.deleted", first_stripe_sub)

        # Canceled: suspended at once, retained for 30 days, backed up with its files and mail.
        row = _row(settings, sid)
        assert row["status"] == "canceled" and row["terminate_after"] is not None
        wait_for(lambda: servers.whm_accounts_for(domain)[0]["suspended"] == 1, 120, "the account to be suspended")
        names = wait_for(lambda: _archive_names(servers, user, since=canceled_at), 60, "the account's backup")
        assert f"cpmove-{user}/homedir/public_html/kept-by-customer.txt" in names
        # The web server's archive holds no mail: mpanel kept the mail core's beside it.
        assert not [n for n in names if "Maildir" in n]
        [kept_backup] = wait_for(lambda: account_backups.list_backups(settings, sid), 30, "mpanel's copy")
        with tarfile.open(Path(kept_backup["path"]) / "mail.tar.gz") as mail:
            assert f"admin/Maildir/{message}" in mail.getnames()

        # Within the retention period the domain is the former customer's: anyone else is refused,
        # and so is the same email with another password; nothing is written either way.
        stranger = seed_payload(domain=domain)
        _refused_by_checkout(mpanel, settings, stranger, 409, "domain")
        _refused_by_checkout(mpanel, settings, {**payload, "account": {"password": "not-the-same-1234"}},
                             409, "customer.email")

        # The same customer checks out again: the same order, account and files, switched back on.
        session = _take_back_through_checkout(mpanel, settings, payload, sid, body["checkoutSessionId"])
        _process_stripe_event(mpanel, retained, "checkout.session.completed", session)
        row = _row(settings, sid)
        assert row["status"] == "active" and row["terminate_after"] is None and row["stripe_sub"] != first_stripe_sub
        wait_for(lambda: servers.whm_accounts_for(domain)[0]["suspended"] == 0, 120, "the account to be unsuspended")
        assert [a["user"] for a in servers.whm_accounts_for(domain)] == [user]
        assert kept.read_text() == "mine\n"
        assert "hello" in _imap_subjects(settings, mailbox, mailbox_password)["keep me"]

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
