"""Moving an account from web server A (the session's) to B, converged by the real engine: a move
that fails while copying leaves A serving and flags the subscription; a move that succeeds
leaves the account on B with its files and mail, DNS pointing at B, and nothing on A."""
from __future__ import annotations

import imaplib
import time
from pathlib import Path

import pytest
import requests

from app import db
from app.services import moves, servers
from app.services.converge import Converger
from app.services.engine import stack_operations
from tests.factories import make_subscription, unique_domain
from tests.integration.servers.test_two_servers import a_records, accounts_for, group_on_b  # noqa: F401 (fixture)


def a_accounts(settings, domain):
    return accounts_for(settings.CPANEL_WHM_URL, settings.CPANEL_WHM_USERNAME, settings.CPANEL_WHM_API_TOKEN, domain)


def imap(settings, address, password):
    host, port = settings.IMAP_ADDRESS.split(":")
    box = imaplib.IMAP4(host, int(port), timeout=10)
    box.login(address, password)
    return box


def test_a_failed_move_leaves_the_source_serving_and_a_move_carries_files_and_mail_and_switches_dns(
        db_conn, settings, web_server_b, group_on_b):
    b = group_on_b["server"]
    servers.update_server(settings, str(b), servers.ServerInput(archive_dir=str(web_server_b.home_root.parent /
                                                                                "backups")))
    domain = unique_domain("move")
    sid = make_subscription(db_conn, settings, domain=domain)  # the default plan: on A
    converger = Converger(settings)
    try:
        assert converger.converge(sid) == "up"
        [on_a] = a_accounts(settings, domain)
        user, a_ip = on_a["user"], on_a["ip"]
        assert a_records(settings, domain) == [a_ip] != [web_server_b.ip]
        site_file = Path(settings.SITES_HOME_ROOT) / user / "public_html" / "customer-file.txt"
        site_file.write_text("the customer's own file\n")
        outputs = stack_operations(settings).outputs(sid)
        box = imap(settings, outputs["mailbox_address"], outputs["mailbox_password"])
        box.append("INBOX", None, imaplib.Time2Internaldate(time.time()),
                   b"Subject: kept across the move\r\n\r\nhello\r\n")
        box.logout()

        # B refuses the restore: nothing changes for the customer, the operators are told.
        requests.post(f"{web_server_b.whm_url}/_sandbox/faults", timeout=10, json={
            "operation": "start_local_cpmove_restore", "kind": "code", "reason": "Restore refused (test)"}
        ).raise_for_status()
        moves.request_move(settings, sid, str(b))
        assert converger.converge(sid) == "move failed"
        row = db_conn.execute("SELECT server_id, needs_attention_since, provisioning_error FROM subscriptions "
                              "WHERE id = %s", (sid,)).fetchone()
        assert row["server_id"] == 1 and row["needs_attention_since"] is not None
        assert "Restore refused (test)" in row["provisioning_error"]
        assert [a["user"] for a in a_accounts(settings, domain)] == [user]
        assert accounts_for(web_server_b.whm_url, "root", web_server_b.token, domain) == []
        assert a_records(settings, domain) == [a_ip]
        with pytest.raises(servers.ServerRefused):
            moves.request_move(settings, sid, "1")  # already there

        moves.request_move(settings, sid, str(b))
        assert converger.converge(sid) == "moved"
        [on_b] = accounts_for(web_server_b.whm_url, "root", web_server_b.token, domain)
        assert on_b["user"] == user and a_accounts(settings, domain) == []
        assert a_records(settings, domain) == a_records(settings, f"www.{domain}") == [web_server_b.ip]
        moved_file = web_server_b.home_root / user / "public_html" / "customer-file.txt"
        assert moved_file.read_text() == "the customer's own file\n"
        assert (web_server_b.home_root / user / "public_html" / "index.html").is_file()
        box = imap(settings, outputs["mailbox_address"], outputs["mailbox_password"])
        box.select("INBOX")
        assert box.search(None, '(SUBJECT "kept across the move")')[1][0].split()
        box.logout()
        row = db_conn.execute("SELECT s.server_id, w.server_id AS website_server, w.cpanel_url, "
                              "(SELECT state FROM account_moves m WHERE m.subscription_id = s.id "
                              " ORDER BY m.id DESC LIMIT 1) AS move "
                              "FROM subscriptions s JOIN websites w ON w.subscription_id = s.id WHERE s.id = %s",
                              (sid,)).fetchone()
        assert (row["server_id"], row["website_server"], row["move"]) == (b, b, "done")
        assert row["cpanel_url"] == "https://localhost:2083"
    finally:
        requests.delete(f"{web_server_b.whm_url}/_sandbox/faults", timeout=10)
        with db.transaction(settings.DATABASE_URL) as conn:
            conn.execute("UPDATE account_moves SET state = 'failed' WHERE subscription_id = %s "
                         "AND state NOT IN ('done', 'failed')", (sid,))
            conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
        assert Converger(settings).converge(sid) == "destroyed"
