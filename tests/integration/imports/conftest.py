"""What another system left on the servers, for the import tests: real WHM stand-in, PowerDNS,
mail core and Dovecot, populated directly."""
from __future__ import annotations

import imaplib
import os
import pwd
import secrets
import time
from pathlib import Path

import psycopg
import pytest

from app.services.hosting.engine import provider_config
from app.services.hosting.specs import spec_defaults
from providers.clients.mailcore import MailCoreClient, hash_password
from providers.clients.powerdns import PowerDnsClient, replace
from providers.clients.whm import WhmClient
from providers.resources.dns_zone import dkim_keypair
from providers.rules.dns_records import DEFAULT_DKIM_SELECTOR, desired_rrsets

MAILBOX_PASSWORD = "Old-Mailbox-Pass-9"
CUSTOMER_RECORDS = [{"name": "shop", "type": "CNAME", "content": "shops.example.net", "ttl": 300},
                    {"name": "_github", "type": "TXT", "content": "verify=abc123", "ttl": 600}]


def imap_messages(settings, address: str, password: str) -> int | None:
    """The number of messages in INBOX, or None when the login fails."""
    host, port = settings.IMAP_ADDRESS.split(":")
    imap = imaplib.IMAP4(host, int(port), timeout=10)
    try:
        imap.login(address, password)
        status, data = imap.select("INBOX", readonly=True)
        return int(data[0]) if status == "OK" else None
    except imaplib.IMAP4.error:
        return None
    finally:
        try:
            imap.logout()
        except Exception:
            pass


def owned_by_mail(top: Path) -> None:
    """Dovecot reads and indexes the maildir as the mail user, as the old system's delivery left it."""
    mail = pwd.getpwnam("mail")
    for path in [top, *top.rglob("*")]:
        os.chown(path, mail.pw_uid, mail.pw_gid)


@pytest.fixture
def left_in_place(settings):
    """As another system would have left it: an account on the plan's package with a site, its zone
    as mpanel would write it plus two of the customer's own records, a mail domain with a mailbox
    holding a message. None of it marked."""
    tag = secrets.token_hex(3)
    user, domain = f"tk{tag}", f"taken-{tag}-mpanel-test.com"
    config = provider_config(settings)
    whm = WhmClient(config)
    whm.createacct(username=user, domain=domain, plan="mpanel_student", password="Old-System-Pass-9",
                   contact_email=f"owner@{domain}", quota_mb=5120)
    ip = whm.find_account(user=user)["ip"]
    site = Path(settings.SITES_HOME_ROOT) / user / "public_html" / "index.html"
    site.parent.mkdir(parents=True, exist_ok=True)
    site.write_text(f"<h1>{domain}: the customer's own site</h1>\n")

    defaults = spec_defaults(settings)
    _private, public = dkim_keypair()
    wanted = desired_rrsets({"domain": domain, "nameservers": list(defaults.nameservers), "server_ip": ip,
                             "mail_host": defaults.mail_host, "dkim_selector": DEFAULT_DKIM_SELECTOR,
                             "records": CUSTOMER_RECORDS}, public)
    dns = PowerDnsClient(config)
    dns.create_zone(domain, [replace(name, rtype, v["ttl"], [{"content": c, "disabled": False} for c in v["records"]])
                             for (name, rtype), v in sorted(wanted.items())], account="")

    mail = MailCoreClient(config)
    with psycopg.connect(settings.MAILCORE_DATABASE_URL, autocommit=True) as conn:
        conn.execute("INSERT INTO mail_domains (name, owner, dkim_selector) VALUES (%s, NULL, %s)",
                     (domain, DEFAULT_DKIM_SELECTOR))
        conn.execute("INSERT INTO mailboxes (address, local_part, domain, password_hash, quota_mb) "
                     "VALUES (%s, 'info', %s, %s, 2048)", (f"info@{domain}", domain, hash_password(MAILBOX_PASSWORD)))
    message = mail.maildir(domain, "info") / "Maildir" / "new" / f"{int(time.time())}.M1P1.oldsystem"
    for part in ("cur", "new", "tmp"):
        (message.parent.parent / part).mkdir(parents=True, exist_ok=True)
    message.write_text(f"From: friend@example.net\r\nTo: info@{domain}\r\nSubject: kept\r\n\r\nhello\r\n")
    owned_by_mail(mail.maildir(domain))
    yield user, domain, site, message
    try:
        whm.removeacct(user)
    except Exception:
        pass
    try:
        dns.delete_zone(domain)
    except Exception:
        pass
    with psycopg.connect(settings.MAILCORE_DATABASE_URL, autocommit=True) as conn:
        conn.execute("DELETE FROM mail_domains WHERE name = %s", (domain,))
        conn.execute("DELETE FROM upstream_claims WHERE natural_key = %s", (domain,))


