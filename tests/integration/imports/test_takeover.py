"""Taking over an account another system left (real engine, PowerDNS, mail core and Dovecot, the
WHM stand-in): the first preview after the import shows no change, and the files, records,
passwords and mail are as they were."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from app.services.hosting.converge import Converger
from app.services.hosting.drift import refresh_and_preview
from app.services.hosting.engine import provider_config
from app.services.operators.imports import ImportRequest, import_account
from providers.clients.powerdns import PowerDnsClient, live_rrsets
from providers.clients.whm import WhmClient
from tests.integration.imports.conftest import MAILBOX_PASSWORD, imap_messages


def test_an_imported_account_previews_no_change_and_keeps_its_files_records_and_mail(settings, db_conn,
                                                                                       left_in_place):
    user, domain, site, message = left_in_place
    config = provider_config(settings)
    zone_before = live_rrsets(PowerDnsClient(config).get_zone(domain))
    site_before, message_before = site.read_bytes(), message.read_bytes()
    assert imap_messages(settings, f"info@{domain}", MAILBOX_PASSWORD) == 1

    done = import_account(settings, ImportRequest("1", user, f"owner@{domain}"), operator="cli:test",
                          command=f"mpanel import account 1 {user} --email owner@{domain}")
    assert done.finished, done.outcome
    sid = done.subscription_id

    found = refresh_and_preview(settings, sid)
    assert found.drift is False, [(s["resource_name"], s["op"], s.get("diffs"), s.get("changes")) for s in found.steps if s.get("op") not in ("same", "refresh", None) or s.get("diffs")]

    # Read back from the servers: nothing rewritten, everything marked as the stack's.
    zone = PowerDnsClient(config).get_zone(domain)
    assert live_rrsets(zone) == zone_before
    assert zone["account"] == f"sub-{sid}"
    assert site.read_bytes() == site_before
    assert not (site.parent / "index.html.mpanel").exists()
    assert message.read_bytes() == message_before
    assert imap_messages(settings, f"info@{domain}", MAILBOX_PASSWORD) == 1
    account = WhmClient(config).find_account(user=user)
    assert (account["plan"], int(account.get("suspended") or 0)) == ("mpanel_student", 0)
    with psycopg.connect(settings.MAILCORE_DATABASE_URL) as conn:
        assert conn.execute("SELECT owner FROM mail_domains WHERE name = %s", (domain,)).fetchone() == (f"sub-{sid}",)
        assert conn.execute("SELECT address FROM mailboxes WHERE domain = %s", (domain,)).fetchall() == \
            [(f"info@{domain}",)]
        assert conn.execute("SELECT owner, detail FROM upstream_claims WHERE provider = 'whm' AND natural_key = %s",
                            (domain,)).fetchone() == (f"sub-{sid}", user)

    # The rows: the customer's records as they were, the audit entry, the invitation, no welcome.
    records = db_conn.execute("SELECT r.name, r.type, r.content, r.ttl FROM dns_records r JOIN domains d "
                              "ON d.id = r.domain_id WHERE d.subscription_id = %s ORDER BY r.name", (sid,)).fetchall()
    assert [(r["name"], r["type"], r["content"], r["ttl"]) for r in records] == \
        [("_github", "TXT", "verify=abc123", 600), ("shop", "CNAME", "shops.example.net.", 300)]  # as the editor stores it
    audit = db_conn.execute("SELECT staff_email, detail FROM staff_audit_log WHERE subscription_id = %s "
                            "AND action = 'import account'", (sid,)).fetchone()
    assert audit["staff_email"] == "cli:test" and f"mpanel import account 1 {user}" in audit["detail"]
    invitation = db_conn.execute("SELECT t.recipient FROM account_tokens t JOIN customers c ON c.user_id = t.user_id "
                                 "JOIN subscriptions s ON s.customer_id = c.id WHERE s.id = %s "
                                 "AND t.purpose = 'password_reset'", (sid,)).fetchone()
    assert invitation["recipient"] == f"owner@{domain}"
    row = db_conn.execute("SELECT s.status, s.provisioning_status, s.billed_externally, a.finished_at "
                          "FROM subscriptions s JOIN account_imports a ON a.subscription_id = s.id "
                          "WHERE s.id = %s", (sid,)).fetchone()
    assert (row["status"], row["provisioning_status"], row["billed_externally"]) == ("active", "ready", True)
    assert row["finished_at"] is not None

    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    Converger(settings).converge(sid)


def _kill_import_mid_run(settings, user: str, domain: str, after: float) -> bool:
    """`mpanel import account` in a process of its own, SIGKILLed (with its Pulumi CLI and providers)
    `after` seconds into its first converge; False when it finished first."""
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "import", "account", "1", user,
                             "--email", f"owner@{domain}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    try:
        with psycopg.connect(settings.DATABASE_URL, autocommit=True) as conn:
            while proc.poll() is None and time.monotonic() < deadline:
                started = conn.execute("SELECT 1 FROM provisioning_runs r JOIN account_imports a "
                                       "ON a.subscription_id = r.subscription_id WHERE a.cpanel_username = %s",
                                       (user,)).fetchone()
                if started:
                    break
                time.sleep(0.05)
        proc.wait(timeout=after)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


@pytest.mark.parametrize("after", [0.3, 1.5])
def test_an_import_killed_during_its_first_converge_is_finished_by_the_next_run(settings, db_conn, left_in_place,
                                                                                after):
    user, domain, site, message = left_in_place
    config = provider_config(settings)
    zone_before = live_rrsets(PowerDnsClient(config).get_zone(domain))
    site_before, message_before = site.read_bytes(), message.read_bytes()

    assert _kill_import_mid_run(settings, user, domain, after), "the import finished before it was killed"
    [pending] = db_conn.execute("SELECT subscription_id, finished_at FROM account_imports WHERE cpanel_username = %s",
                                (user,)).fetchall()
    assert pending["finished_at"] is None

    done = import_account(settings, ImportRequest("1", user, f"owner@{domain}"))
    assert (done.subscription_id, done.resumed, done.finished) == (pending["subscription_id"], True, True), done
    sid = done.subscription_id
    found = refresh_and_preview(settings, sid)
    assert found.drift is False, [(s["resource_name"], s["op"]) for s in found.steps if s.get("op") != "same"]

    assert live_rrsets(PowerDnsClient(config).get_zone(domain)) == zone_before
    assert site.read_bytes() == site_before and message.read_bytes() == message_before
    assert imap_messages(settings, f"info@{domain}", MAILBOX_PASSWORD) == 1
    assert db_conn.execute("SELECT count(*) AS n FROM domains WHERE name = %s", (domain,)).fetchone()["n"] == 1
    assert [a["user"] for a in WhmClient(config).list_accounts() if a["domain"] == domain] == [user]

    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    Converger(settings).converge(sid)


def test_a_csv_the_operator_edited_imports_each_row_on_its_own(settings, db_conn, left_in_place, tmp_path, capsys):
    """`mpanel import csv FILE`: a row that can be taken over is, a row that cannot is refused with
    nothing written for it, and the command says which (exit 2: not every row imported)."""
    from app import cli

    user, domain, _site, _message = left_in_place
    sheet = tmp_path / "accounts.csv"
    sheet.write_text("server,user,email,plan,billing\n"
                     f"1,{user},owner@{domain},,external\n"
                     "1,nosuchacct,nobody-here@example.com,,external\n")

    assert cli.main(["import", "csv", str(sheet)]) == 2
    said = capsys.readouterr().out
    assert f"1/{user}: taken over as sub-" in said and "1/nosuchacct: refused, nothing written:" in said
    assert db_conn.execute("SELECT count(*) AS n FROM users WHERE email = 'nobody-here@example.com'"
                           ).fetchone()["n"] == 0
    row = db_conn.execute("SELECT s.id, s.provisioning_status FROM subscriptions s JOIN domains d "
                          "ON d.subscription_id = s.id WHERE d.name = %s", (domain,)).fetchone()
    assert row["provisioning_status"] == "ready"
    assert PowerDnsClient(provider_config(settings)).get_zone(domain)["account"] == f"sub-{row['id']}"

    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (row["id"],))
    Converger(settings).converge(row["id"])
