"""A customer adds and removes mailboxes in the panel; the worker makes them real in Dovecot."""
from __future__ import annotations

import re

import psycopg
import pytest
import requests

from tests.e2e.conftest import csrf_of, seed_payload, wait_for
from tests.integration.converge.conftest import Servers


def _imap_opens(settings, address: str, password: str) -> bool:
    return Servers(settings).imap_login(address, password)


@pytest.fixture
def customer(mpanel):
    """A provisioned customer, logged in, on the dashboard."""
    payload = seed_payload(testMode=True, promoCode="TESTFREE")
    body = mpanel.checkout(payload).json()
    mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready")
    browser = requests.Session()
    form = browser.get(f"{mpanel.url}/login", timeout=10)
    answer = browser.post(f"{mpanel.url}/login", timeout=30, data={
        "csrf": csrf_of(form.text), "email": payload["customer"]["email"], "password": payload["account"]["password"]})
    page = browser.post(f"{mpanel.url}/welcome", data={"csrf": csrf_of(answer.text)}, timeout=10)  # skip the wizard
    browser.email = payload["customer"]["email"]
    return browser, body["subscriptionId"], payload["domain"], page


def _stored_password(settings, subscription_id: int, local_part: str):
    with psycopg.connect(settings.DATABASE_URL) as conn:
        row = conn.execute("SELECT password_encrypted FROM mailboxes WHERE subscription_id = %s AND local_part = %s",
                           (subscription_id, local_part)).fetchone()
    return row


def test_a_mailbox_added_in_the_panel_logs_in_with_the_chosen_password(mpanel, settings, customer):
    browser, sid, domain, page = customer
    email = browser.email
    chosen = "Sales-Mailbox-2026!"
    added = browser.post(f"{mpanel.url}/sites/{sid}/mailboxes", timeout=10,
                         data={"csrf": csrf_of(page.text), "local_part": "Sales", "password": chosen})
    assert added.status_code == 200 and f"sales@{domain}" in added.text

    wait_for(lambda: _imap_opens(settings, f"sales@{domain}", chosen), 60, "the new mailbox to open over IMAP")
    # Once set in mail-core, the chosen password is no longer kept by mpanel.
    wait_for(lambda: _stored_password(settings, sid, "sales") == (None,), 30, "the stored password to be cleared")
    assert f"sales@{domain}" in browser.get(f"{mpanel.url}/dashboard", timeout=10).text

    removed = browser.post(f"{mpanel.url}/sites/{sid}/mailboxes/sales/remove", timeout=10,
                           data={"csrf": csrf_of(added.text)})
    assert removed.status_code == 200
    wait_for(lambda: not _imap_opens(settings, f"sales@{domain}", chosen), 60, "the removed mailbox to stop working")
    [welcome] = wait_for(lambda: mpanel.mails_to(email), 60, "the welcome email")
    admin_password = re.search(rf"admin@{re.escape(domain)}\s+Password:\s+(\S+)",
                               welcome.get_body(("plain",)).get_content()).group(1)
    assert _imap_opens(settings, f"admin@{domain}", admin_password), "IMAP itself still answers"


def test_a_mailbox_removed_and_added_again_is_a_new_one(mpanel, settings, customer):
    """Removed and added again before the worker looked: one converge sees both, and must
    still drop the old mailbox and its mail rather than hand them to the new one."""
    from app.services.hosting import mailboxes
    from app.settings import state_dir

    browser, sid, domain, page = customer
    added = browser.post(f"{mpanel.url}/sites/{sid}/mailboxes", timeout=10,
                         data={"csrf": csrf_of(page.text), "local_part": "team", "password": "First-Password-123"})
    wait_for(lambda: _imap_opens(settings, f"team@{domain}", "First-Password-123"), 60, "the first team@")
    old_mail = state_dir() / "mailcore" / domain / "team" / "cur" / "1.old:2,S"
    old_mail.parent.mkdir(parents=True, exist_ok=True)
    old_mail.write_text("Subject: for the previous owner\n\nprivate\n")

    # The removal straight in the database (no converge asked), the new one through the panel (one asked).
    with psycopg.connect(settings.DATABASE_URL) as conn:
        user_id = conn.execute("SELECT c.user_id FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
                               "WHERE s.id = %s", (sid,)).fetchone()[0]
    mailboxes.remove_mailbox(settings, user_id, sid, "team")
    browser.post(f"{mpanel.url}/sites/{sid}/mailboxes", timeout=10,
                 data={"csrf": csrf_of(added.text), "local_part": "team", "password": "Second-Password-456"})
    wait_for(lambda: _imap_opens(settings, f"team@{domain}", "Second-Password-456"), 60, "the new team@")
    assert not old_mail.exists(), "the previous mailbox's mail went with it"


@pytest.mark.parametrize("local_part, password, field_words", [
    ("admin", "Long-Enough-Password", "reserved"),
    ("no spaces", "Long-Enough-Password", "letters, digits"),
    ("-dash", "Long-Enough-Password", "letters, digits"),
    ("ok", "short", "12 to"),
])
def test_a_bad_mailbox_request_says_why_and_records_nothing(mpanel, settings, customer, local_part, password,
                                                            field_words):
    browser, sid, _, page = customer
    refused = browser.post(f"{mpanel.url}/sites/{sid}/mailboxes", timeout=10,
                           data={"csrf": csrf_of(page.text), "local_part": local_part, "password": password})
    assert refused.status_code == 422 and field_words in refused.text
    with psycopg.connect(settings.DATABASE_URL) as conn:
        assert conn.execute("SELECT count(*) FROM mailboxes WHERE subscription_id = %s", (sid,)).fetchone()[0] == 0


def test_the_plans_mailbox_allowance_is_enforced(mpanel, settings, customer):
    browser, sid, _, page = customer
    with psycopg.connect(settings.DATABASE_URL) as conn:
        allowance = conn.execute("SELECT p.mailbox_count FROM subscriptions s JOIN plans p ON p.id = s.plan_id "
                                 "WHERE s.id = %s", (sid,)).fetchone()[0]
        for n in range(allowance - 1):  # admin@ counts: fill the rest directly
            conn.execute("INSERT INTO mailboxes (subscription_id, local_part) VALUES (%s, %s)", (sid, f"box{n}"))
    refused = browser.post(f"{mpanel.url}/sites/{sid}/mailboxes", timeout=10,
                           data={"csrf": csrf_of(page.text), "local_part": "onemore", "password": "Long-Enough-Password"})
    assert refused.status_code == 422 and "all in use" in refused.text


def test_another_customers_site_is_out_of_reach(mpanel, customer):
    browser, _, _, page = customer
    other = mpanel.checkout(seed_payload(testMode=True, promoCode="TESTFREE")).json()
    mpanel.wait_until(other["subscriptionId"], provisioningStatus="ready")  # live: only ownership refuses
    refused = browser.post(f"{mpanel.url}/sites/{other['subscriptionId']}/mailboxes", timeout=10,
                           data={"csrf": csrf_of(page.text), "local_part": "steal", "password": "Long-Enough-Password"})
    assert refused.status_code == 404
