"""An account placed on web server B lives on B, whole: the WHM account and its certificate on
B's WHM, the starter page published over B's SSH into B's homes, the zone's A records at the
address B gave the account, and the cPanel address the customer is sent is B's. Web server A
(the session's CPANEL_WHM_URL) never hears of it."""
from __future__ import annotations

import secrets

import dns.resolver
import pytest
import requests

from app import db
from app.services import servers
from app.services.converge import Converger
from app.services.engine import stack_operations
from tests.factories import make_subscription, unique_domain


def whm(url: str, user: str, token: str, function: str, **params) -> dict:
    r = requests.get(f"{url}/json-api/{function}", params={"api.version": 1, **params},
                     headers={"Authorization": f"whm {user}:{token}"}, timeout=10)
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


@pytest.fixture
def group_on_b(db_conn, settings, web_server_b):
    """A group whose only server is B, and a plan selling it."""
    name = f"b-{secrets.token_hex(4)}"
    db_conn.execute("INSERT INTO server_groups (name) VALUES (%s)", (name,))
    db_conn.execute(
        "INSERT INTO plans (slug, name, whm_package, disk_quota_mb, bandwidth_mb, mailbox_count, "
        "price_monthly_cents, price_yearly_cents, server_group) "
        "VALUES (%s, 'On B', 'mpanel_student', 5120, 51200, 5, 299, 2990, %s)", (name, name))
    b = servers.add_server(settings, servers.ServerInput(
        name=f"web-b-{name}", hostname=f"web-b.{name}.example.net", ip_address="127.0.0.1",
        whm_url=web_server_b.whm_url, whm_token=web_server_b.token, ssh_address=web_server_b.ssh_address,
        ssh_host_key=web_server_b.host_key, home_root=str(web_server_b.home_root), capacity=10,
        server_group=name))
    yield {"plan": name, "server": b}
    with db.transaction(settings.DATABASE_URL) as conn:
        conn.execute("UPDATE plans SET active = false WHERE slug = %s", (name,))
        conn.execute("UPDATE servers SET status = 'retired' WHERE id = %s "
                     "AND NOT EXISTS (SELECT 1 FROM subscriptions WHERE server_id = %s AND status <> 'terminated')",
                     (b, b))


def test_an_account_placed_on_b_is_built_on_b_and_dns_points_there(db_conn, settings, web_server_b, group_on_b):
    domain = unique_domain("onb")
    sid = make_subscription(db_conn, settings, domain=domain, plan=group_on_b["plan"])
    converger = Converger(settings)  # built after B was registered, as a worker's job is
    try:
        assert converger.converge(sid) == "up"
        row = db_conn.execute("SELECT s.server_id, w.server_id AS website_server, w.cpanel_url, w.cpanel_username "
                              "FROM subscriptions s JOIN websites w ON w.subscription_id = s.id WHERE s.id = %s",
                              (sid,)).fetchone()
        assert row["server_id"] == row["website_server"] == group_on_b["server"]

        [account] = accounts_for(web_server_b.whm_url, "root", web_server_b.token, domain)
        assert account["ip"] == web_server_b.ip and account["user"] == row["cpanel_username"]
        assert accounts_for(settings.CPANEL_WHM_URL, settings.CPANEL_WHM_USERNAME, settings.CPANEL_WHM_API_TOKEN,
                            domain) == []
        assert a_records(settings, domain) == a_records(settings, f"www.{domain}") == [web_server_b.ip]

        ssl = whm(web_server_b.whm_url, "root", web_server_b.token, "fetchsslinfo", domain=domain)["data"]
        assert "BEGIN CERTIFICATE" in ssl["crt"] and int(ssl["ssl_redirect"]) == 1

        page = web_server_b.home_root / account["user"] / "public_html" / "index.html"
        assert domain in page.read_text()

        outputs = stack_operations(settings).outputs(sid)
        assert outputs["cpanel_url"] == row["cpanel_url"] == "https://localhost:2083"  # B's, not A's 127.0.0.1
        state = str(stack_operations(settings).export(sid))
        assert state.find(web_server_b.token) < 0  # the providers are given B's token by its id, at run time
    finally:
        db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
        assert converger.converge(sid) == "destroyed"
    assert accounts_for(web_server_b.whm_url, "root", web_server_b.token, domain) == []
