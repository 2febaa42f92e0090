"""Backups hold what they claim (issue 22, item 5): with no retention a cancellation destroys the
account, and the last backup, kept by mpanel under the subscription and the moment, holds the
site's files (WHM's archive) and every mailbox's messages (the mail core's, which the web
server's pkgacct never sees); the same customer ordering the domain again gets both back."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

from tests.e2e.conftest import seed_payload, wait_for
from tests.e2e.test_termination_with_retention import _deliver, _imap_subjects, _paid_and_ready
from tests.integration.converge.conftest import Servers


def _backups(sid: int) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "app.cli", "backups", "list", str(sid), "--json"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _newest_mailbox_login(mpanel, to: str, count: int) -> tuple[str, str]:
    mails = wait_for(lambda: (lambda m: m if len(m) >= count else None)(mpanel.mails_to(to)), 90,
                     f"welcome email number {count}")
    found = re.search(r"Email address:\s+(\S+)\s+Password:\s+(\S+)", mails[-1].get_body(("plain",)).get_content())
    return found.group(1), found.group(2)


def test_the_last_backup_holds_files_and_mail_and_a_returning_order_gets_both_back(mpanel, settings):
    assert settings.TERMINATE_AFTER_DAYS == 0
    servers = Servers(settings)
    payload, body = _paid_and_ready(mpanel)
    sid, domain, address = body["subscriptionId"], payload["domain"], payload["customer"]["email"]
    mailbox, password = _newest_mailbox_login(mpanel, address, 1)
    [account] = servers.whm_accounts_for(domain)
    user = account["user"]
    (Path(settings.SITES_HOME_ROOT) / user / "public_html" / "kept.txt").write_text("mine\n")
    _deliver(settings, mailbox, password, f"From: a@example.net\r\nTo: {mailbox}\r\nSubject: keep me\r\n\r\n"
                                          "hello\r\n".encode())

    from app.services.orders import billing
    import psycopg
    with psycopg.connect(settings.DATABASE_URL) as conn:
        stripe_sub = conn.execute("SELECT stripe_subscription_id FROM subscriptions WHERE id = %s", (sid,)).fetchone()[0]
    billing.client(settings).v1.subscriptions.cancel(stripe_sub)
    mpanel.wait_until(sid, provisioningStatus="destroyed", deadline=120)
    assert servers.whm_accounts_for(domain) == []

    [backup] = _backups(sid)
    assert backup["reason"] == "destroy" and backup["archive"].startswith("20") and str(sid) in backup["path"]
    kept = Path(backup["path"])
    with tarfile.open(kept / backup["web_archive"]) as web:
        names = web.getnames()
        assert f"cpmove-{user}/homedir/public_html/kept.txt" in names
        assert not [n for n in names if "Maildir" in n]  # the web server's archive has no mail
    with tarfile.open(kept / "mail.tar.gz") as mail:
        messages = [m for m in mail.getmembers() if m.isfile() and "/Maildir/" in m.name]
        assert any(b"Subject: keep me" in mail.extractfile(m).read() for m in messages)
    assert [(m["address"], bool(m["password_hash"]), m["quota_mb"] > 0) for m in backup["mailboxes"]] == \
        [(mailbox, True, True)]

    # The domain is ordered again (a customer whose order was terminated logs in to add a site;
    # the public checkout takes a new account): the operator restores the last backup into it.
    newcomer = seed_payload(domain=domain)
    again = mpanel.checkout(newcomer)
    assert again.status_code == 201, again.text
    new_sid = again.json()["subscriptionId"]
    mpanel.pay(again.json()["checkoutSessionId"])
    mpanel.wait_until(new_sid, provisioningStatus="ready", deadline=180)
    restored = subprocess.run([sys.executable, "-m", "app.cli", "backups", "restore", str(new_sid), backup["archive"],
                               "--from-subscription", str(sid), "--json"], capture_output=True, text=True)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert json.loads(restored.stdout)["mailboxes"] == [mailbox]
    [account] = servers.whm_accounts_for(domain)
    assert (Path(settings.SITES_HOME_ROOT) / account["user"] / "public_html" / "kept.txt").read_text() == "mine\n"
    mailbox, password = _newest_mailbox_login(mpanel, newcomer["customer"]["email"], 1)
    assert "hello" in _imap_subjects(settings, mailbox, password)["keep me"]
