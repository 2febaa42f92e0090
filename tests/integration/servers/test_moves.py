"""Two web servers, one real account, converged by the real engine:
- placed on web server B, the account is built there whole: the WHM account and its certificate
  on B's WHM, the starter page published over B's SSH into B's homes, the zone's A records at the
  address B gave, the cPanel address B's; web server A (the session's CPANEL_WHM_URL) never hears
  of it, and B's token is nowhere in the stack's state;
- a move to A that fails while copying leaves B serving and flags the subscription;
- a move to A carries the customer's files and mail, switches DNS, and leaves nothing on B.
"""
from __future__ import annotations

import imaplib
import secrets
import time
from pathlib import Path

import dns.resolver
import pytest
import requests

from app import db
from app.services.hosting import moves, servers
from app.services.hosting.converge import Converger
from app.services.hosting.engine import stack_operations
from tests.factories import make_subscription, unique_domain
from tests.web_server_b import sell_only_on


def whm(url: str, root: str, token: str, function: str, **params) -> dict:
    r = requests.get(f"{url}/json-api/{function}", params={"api.version": 1, **params},
                     headers={"Authorization": f"whm {root}:{token}"}, timeout=10)
    r.raise_for_status()
    return r.json()


def accounts_for(url, user, token, domain) -> list[dict]:
    body = whm(url, user, token, "listaccts", search=domain, searchtype="domain", searchmethod="exact")
    return (body.get("data") or {}).get("acct") or []


def a_records(settings, name) -> list[str]:
    resolver = dns.resolver.Resolver(configure=False)
    host, port = settings.POWERDNS_DNS_ADDRESS.split(":")
    resolver.nameservers, resolver.port = [host], int(port)
    try:
        return sorted(r.to_text() for r in resolver.resolve(name, "A"))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []


def imap(settings, address, password):
    host, port = settings.IMAP_ADDRESS.split(":")
    box = imaplib.IMAP4(host, int(port), timeout=10)
    box.login(address, password)
    return box


@pytest.fixture
def group_on_b(db_conn, settings, web_server_b):
    """A group whose only server is B, and a plan selling it."""
    name = f"b-{secrets.token_hex(4)}"
    b = sell_only_on(settings, web_server_b, name)
    yield {"plan": name, "server": b}
    with db.transaction(settings.DATABASE_URL) as conn:
        conn.execute("UPDATE plans SET active = false WHERE slug = %s", (name,))
        conn.execute("UPDATE servers SET status = 'retired' WHERE id = %s", (b,))


def test_an_account_on_b_is_built_there_and_a_move_to_a_carries_its_files_and_mail_and_switches_dns(
        db_conn, settings, layout, web_server_b, group_on_b):
    b, a = group_on_b["server"], settings.DEFAULT_WEB_SERVER_ID
    a_archives = layout.root / "whm" / "backups"  # where A's WHM stand-in restores archives from
    a_archives.mkdir(parents=True, exist_ok=True)
    servers.update_server(settings, str(a), servers.ServerInput(archive_dir=str(a_archives)))
    a_whm = (settings.CPANEL_WHM_URL, settings.CPANEL_WHM_USERNAME, settings.CPANEL_WHM_API_TOKEN)
    b_whm = (web_server_b.whm_url, "root", web_server_b.token)
    domain = unique_domain("onb")
    sid = make_subscription(db_conn, settings, domain=domain, plan=group_on_b["plan"], proven=True)
    converger = Converger(settings)  # built after B was registered, as a worker's job is
    try:
        # Placed on B, built on B.
        assert converger.converge(sid) == "up"
        row = db_conn.execute("SELECT s.server_id, w.server_id AS website_server, w.cpanel_url, w.cpanel_username "
                              "FROM subscriptions s JOIN websites w ON w.subscription_id = s.id WHERE s.id = %s",
                              (sid,)).fetchone()
        assert row["server_id"] == row["website_server"] == b
        [on_b] = accounts_for(*b_whm, domain)
        user = on_b["user"]
        assert on_b["ip"] == web_server_b.ip and user == row["cpanel_username"]
        assert accounts_for(*a_whm, domain) == []
        assert a_records(settings, domain) == a_records(settings, f"www.{domain}") == [web_server_b.ip]
        ssl = whm(*b_whm, "fetchsslinfo", domain=domain)["data"]
        assert "BEGIN CERTIFICATE" in ssl["crt"] and int(ssl["ssl_redirect"]) == 1
        assert domain in (web_server_b.home_root / user / "public_html" / "index.html").read_text()
        outputs = stack_operations(settings).outputs(sid)
        assert outputs["cpanel_url"] == row["cpanel_url"] == "https://localhost:2083"  # B's, not A's 127.0.0.1
        assert web_server_b.token not in str(stack_operations(settings).export(sid))  # B by id only

        # The customer's own file and mail.
        (web_server_b.home_root / user / "public_html" / "customer-file.txt").write_text("the customer's own\n")
        box = imap(settings, outputs["mailbox_address"], outputs["mailbox_password"])
        box.append("INBOX", None, imaplib.Time2Internaldate(time.time()),
                   b"Subject: kept across the move\r\n\r\nhello\r\n")
        box.logout()

        # A refuses the restore: nothing changes for the customer, the operators are told.
        row = _failed_move(settings, db_conn, converger, sid, a, b, "start_local_cpmove_restore",
                           "Restore refused (test)")
        assert "Restore refused (test)" in row["provisioning_error"]
        assert [x["user"] for x in accounts_for(*b_whm, domain)] == [user] and accounts_for(*a_whm, domain) == []
        assert a_records(settings, domain) == [web_server_b.ip]
        with pytest.raises(servers.ServerRefused):
            moves.request_move(settings, sid, str(b))  # already there

        # The move itself.
        moves.request_move(settings, sid, str(a))
        assert converger.converge(sid) == "moved"
        [on_a] = accounts_for(*a_whm, domain)
        assert on_a["user"] == user and accounts_for(*b_whm, domain) == []
        assert a_records(settings, domain) == a_records(settings, f"www.{domain}") == [on_a["ip"]] != \
            [web_server_b.ip]
        moved_home = Path(settings.SITES_HOME_ROOT) / user / "public_html"
        assert (moved_home / "customer-file.txt").read_text() == "the customer's own\n"
        assert domain in (moved_home / "index.html").read_text()
        assert not (web_server_b.home_root / user).exists()
        box = imap(settings, outputs["mailbox_address"], outputs["mailbox_password"])
        box.select("INBOX")
        assert box.search(None, '(SUBJECT "kept across the move")')[1][0].split()
        box.logout()
        ssl = whm(*a_whm, "fetchsslinfo", domain=domain)["data"]
        assert "BEGIN CERTIFICATE" in ssl["crt"] and int(ssl["ssl_redirect"]) == 1
        row = db_conn.execute("SELECT s.server_id, w.server_id AS website_server, w.cpanel_url, "
                              "(SELECT state FROM account_moves m WHERE m.subscription_id = s.id "
                              " ORDER BY m.id DESC LIMIT 1) AS move "
                              "FROM subscriptions s JOIN websites w ON w.subscription_id = s.id WHERE s.id = %s",
                              (sid,)).fetchone()
        assert (row["server_id"], row["website_server"], row["move"]) == (a, a, "done")
        assert row["cpanel_url"] == "https://127.0.0.1:2083"
    finally:
        _terminate(settings, sid)


def uapi_mysql(url: str, root: str, token: str, account: str, function: str, **params) -> dict:
    """A UAPI Mysql call as the account's user, through WHM: UAPI's own result."""
    r = requests.post(f"{url}/json-api/uapi_cpanel", timeout=10, headers={"Authorization": f"whm {root}:{token}"},
                      data={"api.version": 1, "cpanel.user": account, "cpanel.module": "Mysql",
                            "cpanel.function": function, **params})
    r.raise_for_status()
    return r.json()["data"]["uapi"]


def test_a_move_verifies_the_databases_and_refuses_a_copy_that_lost_one(db_conn, settings, layout, web_server_b,
                                                                        group_on_b):
    b, a = group_on_b["server"], settings.DEFAULT_WEB_SERVER_ID
    a_archives = layout.root / "whm" / "backups"
    a_archives.mkdir(parents=True, exist_ok=True)
    servers.update_server(settings, str(a), servers.ServerInput(archive_dir=str(a_archives)))
    a_whm = (settings.CPANEL_WHM_URL, settings.CPANEL_WHM_USERNAME, settings.CPANEL_WHM_API_TOKEN)
    b_whm = (web_server_b.whm_url, "root", web_server_b.token)
    domain = unique_domain("dbs")
    sid = make_subscription(db_conn, settings, domain=domain, plan=group_on_b["plan"])
    converger = Converger(settings)
    try:
        assert converger.converge(sid) == "up"
        [on_b] = accounts_for(*b_whm, domain)
        user = on_b["user"]
        # The customer's site keeps its data in a database of its own, with a user of its own.
        wp, app_user = f"{user[:8]}_wp", f"{user[:8]}_app"
        assert uapi_mysql(*b_whm, user, "create_database", name=wp)["status"] == 1
        assert uapi_mysql(*b_whm, user, "create_user", name=app_user, password=secrets.token_hex(12))["status"] == 1
        assert uapi_mysql(*b_whm, user, "set_privileges_on_database", user=app_user, database=wp,
                          privileges="ALL PRIVILEGES")["status"] == 1
        requests.post(f"{web_server_b.whm_url}/_sandbox/mysql/{wp}", json={"sql": "INSERT INTO posts VALUES (1);\n"},
                      timeout=10).raise_for_status()

        # A's restore brings the account back without its database (and says success): the move
        # is refused before anything switches, A's copy removed, the operators told which one.
        row = _failed_move(settings, db_conn, converger, sid, a, b, "restore_mysql", f"Failed to import {wp} (test)")
        assert "MySQL databases" in row["provisioning_error"] and f"missing {wp}" in row["provisioning_error"]
        assert [x["user"] for x in accounts_for(*b_whm, domain)] == [user] and accounts_for(*a_whm, domain) == []
        assert whm(*b_whm, "list_mysql_databases_and_users", user=user)["data"]["mysql_databases"] == \
            {wp: [app_user]}

        # Without the fault the move goes through, and A holds the database, its user and its content.
        moves.request_move(settings, sid, str(a))
        assert converger.converge(sid) == "moved"
        assert whm(*a_whm, "list_mysql_databases_and_users", user=user)["data"]["mysql_databases"] == \
            {wp: [app_user]}
        [listed] = uapi_mysql(*a_whm, user, "list_databases")["data"]
        assert listed["disk_usage"] == len("INSERT INTO posts VALUES (1);\n")
        assert accounts_for(*b_whm, domain) == []
    finally:
        _terminate(settings, sid)


def _failed_move(settings, db_conn, converger, sid: int, to: int, stays_on: int, operation: str, reason: str) -> dict:
    """A move to `to` whose WHM `operation` fails with `reason`: the order stays on `stays_on`,
    flagged; its row (server_id, needs_attention_since, provisioning_error)."""
    requests.post(f"{settings.CPANEL_WHM_URL}/_sandbox/faults", timeout=10, json={
        "operation": operation, "kind": "code", "reason": reason}).raise_for_status()
    moves.request_move(settings, sid, str(to))
    assert converger.converge(sid) == "move failed"
    row = db_conn.execute("SELECT server_id, needs_attention_since, provisioning_error FROM subscriptions "
                          "WHERE id = %s", (sid,)).fetchone()
    assert row["server_id"] == stays_on and row["needs_attention_since"] is not None
    return row


def _terminate(settings, sid: int) -> None:
    """Faults off, any move still open closed, the order terminated and destroyed."""
    requests.delete(f"{settings.CPANEL_WHM_URL}/_sandbox/faults", timeout=10)
    with db.transaction(settings.DATABASE_URL) as conn:
        conn.execute("UPDATE account_moves SET state = 'failed' WHERE subscription_id = %s "
                     "AND state NOT IN ('done', 'failed')", (sid,))
        conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    assert Converger(settings).converge(sid) == "destroyed"
