"""What another system left on the servers, for the import tests: real WHM stand-in, PowerDNS,
mail core and Dovecot, populated directly."""
from __future__ import annotations

import imaplib
import os
import pwd
import secrets
import time
from pathlib import Path

import pytest

from app.devtools.left_behind import MAILBOX_PASSWORD, forget, leave_site  # noqa: F401  (tests read it here)
from app.services.hosting.engine import provider_config
from providers.clients.mailcore import MailCoreClient


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
    leave_site(settings, user, domain)
    site = Path(settings.SITES_HOME_ROOT) / user / "public_html" / "index.html"
    site.parent.mkdir(parents=True, exist_ok=True)
    site.write_text(f"<h1>{domain}: the customer's own site</h1>\n")

    mail = MailCoreClient(provider_config(settings))
    message = mail.maildir(domain, "info") / "Maildir" / "new" / f"{int(time.time())}.M1P1.oldsystem"
    for part in ("cur", "new", "tmp"):
        (message.parent.parent / part).mkdir(parents=True, exist_ok=True)
    message.write_text(f"From: friend@example.net\r\nTo: info@{domain}\r\nSubject: kept\r\n\r\nhello\r\n")
    owned_by_mail(mail.maildir(domain))
    yield user, domain, site, message
    forget(settings, user, domain)
