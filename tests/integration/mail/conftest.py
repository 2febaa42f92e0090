"""Fixtures of the mail tests: the SMTP server's outbox, customers, and stack outputs to welcome with."""
from __future__ import annotations

import secrets

import pytest

from tests.integration.mail.outbox import Outbox


@pytest.fixture
def outbox(settings) -> Outbox:
    return Outbox(settings.SMTP_MAILDIR)


@pytest.fixture
def customer(db_conn):
    """customer(subscription_id) -> the row the emails are addressed from: email, first_name, domain."""
    def lookup(subscription_id: int) -> dict:
        return db_conn.execute(
            """SELECT u.email, c.id AS customer_id, c.first_name, d.name AS domain
                 FROM subscriptions s
                 JOIN customers c ON c.id = s.customer_id
                 JOIN users u ON u.id = c.user_id
                 JOIN domains d ON d.subscription_id = s.id
                WHERE s.id = %s""", (subscription_id,)).fetchone()
    return lookup


@pytest.fixture
def stack_outputs():
    """stack_outputs(domain) -> outputs shaped like the hosting stack's (stacks/program.py), secrets decrypted."""
    def outputs(domain: str) -> dict:
        return {
            "cpanel_url": "https://web1.migrahosting.com:2083",
            "cpanel_username": "u" + secrets.token_hex(3),
            "cpanel_password": "cp-" + secrets.token_urlsafe(12),
            "mailbox_address": f"admin@{domain}",
            "mailbox_password": "mb-" + secrets.token_urlsafe(12),
            "nameservers": ["ns1.migrahosting.com", "ns2.migrahosting.com"],
            "certificate_not_after": "2026-02-23T11:04:00Z",
            "server_ip": "192.0.2.10",
            "domain": domain,
            "registration_status": "external",
        }
    return outputs
