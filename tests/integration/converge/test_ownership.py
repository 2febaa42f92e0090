"""Ownership and customer data through whole converges (architecture decisions 5 and 6).

A converge never seizes an upstream object another stack (or the operator) made, and never
replaces an object holding customer data: both fail the run permanently, with the reason on
the subscription, and leave the object exactly as it was."""
from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import requests

from app.services.hosting.errors import PermanentConvergeError
from tests.factories import make_subscription, unique_domain


def _subscription(db_conn, sid):
    return db_conn.execute("SELECT provisioning_status, provisioning_error FROM subscriptions WHERE id = %s",
                           (sid,)).fetchone()


def _terminate(db_conn, converger, sid):
    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    converger.converge(sid)


def test_a_primary_domain_renamed_in_whm_fails_the_next_converge_for_an_operator_and_keeps_the_account(
        db_conn, settings, converger, servers):
    domain = unique_domain("renamed")
    sid = make_subscription(db_conn, settings, domain=domain)
    assert converger.converge(sid) == "up"
    [account] = servers.whm_accounts_for(domain)
    user = account["user"]
    page = Path(settings.SITES_HOME_ROOT) / user / "public_html" / "index.html"
    page.write_text("<h1>the customer's own site</h1>\n")
    renamed = f"renamed-{secrets.token_hex(4)}.com"
    try:
        servers.whm_drift(user, domain=renamed)  # a support engineer renames the primary domain in WHM

        # The next converge that runs the engine: an operator's, or any once the drift window has
        # passed (within it, an event's converge with nothing changed looks at nothing upstream).
        with pytest.raises(PermanentConvergeError):
            converger.converge(sid, force=True)
        row = _subscription(db_conn, sid)
        assert row["provisioning_error"].startswith("whm: ")
        assert f"changed from {domain} to {renamed} outside mpanel" in row["provisioning_error"]
        assert "operator must decide" in row["provisioning_error"]

        # The account is where it was, with its files: nothing was created or removed.
        [still] = servers.whm_accounts_for(renamed)
        assert still["user"] == user and servers.whm_accounts_for(domain) == []
        assert page.read_text() == "<h1>the customer's own site</h1>\n"

        # Once an operator renames it back, converges work again.
        servers.whm_drift(user, domain=domain)
        assert converger.converge(sid) == "up"
        assert [a["user"] for a in servers.whm_accounts_for(domain)] == [user]
        assert page.read_text() == "<h1>the customer's own site</h1>\n"
    finally:
        servers.whm_drift(user, domain=domain)
        _terminate(db_conn, converger, sid)


def test_ordering_a_domain_whose_zone_belongs_to_another_stack_is_refused_and_the_zone_left_alone(
        db_conn, settings, converger, servers):
    domain = unique_domain("taken")
    api = f"{settings.POWERDNS_API_URL}/api/v1/servers/localhost/zones"
    headers = {"X-API-Key": settings.POWERDNS_API_KEY, "Accept": "application/json"}
    created = requests.post(api, headers=headers, timeout=10, json={
        "name": f"{domain}.", "kind": "Native", "account": "sub-someone-else",
        "nameservers": [f"{settings.NS1}.", f"{settings.NS2}."],
        "rrsets": [{"name": f"{domain}.", "type": "A", "ttl": 3600, "changetype": "REPLACE",
                    "records": [{"content": "198.51.100.77", "disabled": False}]}]})
    assert created.status_code == 201, created.text
    before = servers.zone(domain)
    sid = make_subscription(db_conn, settings, domain=domain)
    try:
        with pytest.raises(PermanentConvergeError):
            converger.converge(sid)
        error = _subscription(db_conn, sid)["provisioning_error"]
        assert error.startswith("powerdns: ") and "sub-someone-else" in error and "refusing" in error
        assert servers.zone(domain) == before
        assert servers.dns(domain, "A") == ["198.51.100.77"]
    finally:
        _terminate(db_conn, converger, sid)
        assert servers.zone(domain) == before, "destroying the refused order must not touch their zone"
        requests.delete(f"{api}/{domain}.", headers=headers, timeout=10)
