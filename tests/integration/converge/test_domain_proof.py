"""Proof of control (issue 23 item 2) on the real engine and the real mail core: an external
order's mailbox receives nothing from another tenant before proof (the mail is relayed out as
for any foreign domain) and receives it once `_mpanel-verify.<domain>` carries the order's token;
likewise our PowerDNS sends nobody to the account's web server for that domain (no apex or www A
record) until then, and does on the converge after proof.

The "public resolver" is a small DNS server of the test's own: the check never asks our
PowerDNS (which answers for every zone we host), and asking it anyway proves nothing."""
from __future__ import annotations

import imaplib
import smtplib
from dataclasses import replace
from email.message import EmailMessage

import pytest

from app.services.domains import proof
from app.services.hosting.engine import stack_operations
from tests.dns_stand_in import PublicDns
from tests.e2e.conftest import wait_for
from tests.factories import make_subscription, unique_domain
from tests.integration.mail.outbox import Outbox


@pytest.fixture
def public_dns():
    server = PublicDns()
    yield server
    server.close()


def _send_from_another_tenant(layout, to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "someone@other-tenant.test", to, subject
    message.set_content("hello")
    with smtplib.SMTP("127.0.0.1", layout.port("mailcore_smtp"), timeout=10) as smtp:
        smtp.send_message(message)


def _subjects_in_imap(settings, address: str, password: str) -> list[str]:
    host, port = settings.IMAP_ADDRESS.split(":")
    imap = imaplib.IMAP4(host, int(port), timeout=10)
    try:
        imap.login(address, password)
        imap.select("INBOX")
        _, ids = imap.search(None, "ALL")
        subjects = []
        for i in ids[0].split():
            _, data = imap.fetch(i, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            subjects.append(data[0][1].decode().split(":", 1)[1].strip())
        return subjects
    finally:
        imap.logout()


def _relayed_out(layout, subject: str) -> bool:
    return subject in Outbox(layout.root / "smtp" / "maildir").subjects()


def test_an_external_domains_mail_is_relayed_out_until_its_control_is_proven(db_conn, settings, layout, converger,
                                                                             public_dns, servers):
    domain = unique_domain("proof")
    sid = make_subscription(db_conn, settings, domain=domain)
    checking = replace(settings, DELEGATION_RESOLVER=public_dns.address)
    try:
        assert converger.converge(sid) == "up"
        outputs = stack_operations(settings).outputs(sid)
        address, password = outputs["mailbox_address"], outputs["mailbox_password"]
        row = db_conn.execute("SELECT id, control_token FROM domains WHERE subscription_id = %s", (sid,)).fetchone()

        # Before proof: the customer logs in, but another tenant's mail goes out, not into the box.
        _send_from_another_tenant(layout, address, f"before proof {sid}")
        wait_for(lambda: _relayed_out(layout, f"before proof {sid}"), 30, "the mail to be relayed out")
        assert _subjects_in_imap(settings, address, password) == []
        # Nor is the web routed: our nameservers answer for the zone, but with no address for the site.
        assert servers.dns(domain, "A") == [] and servers.dns(f"www.{domain}", "A") == []
        assert servers.dns(domain, "MX"), "the rest of the zone is published"

        # Our own nameservers answer for the zone we host: asking them proves nothing.
        ours = replace(settings, DELEGATION_RESOLVER=settings.POWERDNS_DNS_ADDRESS)
        assert proof.check_domain(ours, row["id"]) is False
        # The world's DNS without the token: not proven, and the panel is told what was seen.
        assert proof.check_domain(checking, row["id"]) is False
        seen = db_conn.execute("SELECT control_check_result, control_proven_at FROM domains WHERE id = %s",
                               (row["id"],)).fetchone()
        assert seen["control_proven_at"] is None and "no TXT" in seen["control_check_result"]

        public_dns.txt[f"_mpanel-verify.{domain}"] = row["control_token"]
        assert proof.check_domain(checking, row["id"]) is True
        assert converger.converge(sid) == "up"
        server_ip = stack_operations(settings).outputs(sid)["server_ip"]
        assert servers.dns(domain, "A") == [server_ip] == servers.dns(f"www.{domain}", "A")

        _send_from_another_tenant(layout, address, f"after proof {sid}")
        wait_for(lambda: f"after proof {sid}" in _subjects_in_imap(settings, address, password), 30,
                 "the mail to be delivered into the mailbox")
        assert not _relayed_out(layout, f"after proof {sid}")
    finally:
        db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
        converger.converge(sid)
