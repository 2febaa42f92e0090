"""Helpers for looking at the real servers after a converge."""
from __future__ import annotations

import imaplib

import dns.resolver
import pytest
import requests


class Servers:
    """Reads the truth from each server, not from Pulumi's state."""

    def __init__(self, settings):
        self.s = settings

    def whm(self, function: str, **params) -> dict:
        r = requests.get(f"{self.s.CPANEL_WHM_URL}/json-api/{function}", params={"api.version": 1, **params},
                         headers={"Authorization": f"whm {self.s.CPANEL_WHM_USERNAME}:{self.s.CPANEL_WHM_API_TOKEN}"},
                         timeout=10)
        r.raise_for_status()
        return r.json()

    def whm_accounts_for(self, domain: str) -> list[dict]:
        body = self.whm("listaccts", search=domain, searchtype="domain", searchmethod="exact")
        return (body.get("data") or {}).get("acct") or []

    def whm_drift(self, user: str, **changes) -> None:
        """Change an account behind mpanel's back (the stand-in's control API)."""
        r = requests.post(f"{self.s.CPANEL_WHM_URL}/_sandbox/accounts/{user}", json=changes, timeout=10)
        r.raise_for_status()

    def namesilo(self, operation: str, **params) -> dict:
        r = requests.get(f"{self.s.NAMESILO_API_URL}/{operation}",
                         params={"version": 1, "type": "json", "key": self.s.NAMESILO_API_KEY, **params}, timeout=10)
        return r.json()["reply"]

    def zone(self, domain: str):
        r = requests.get(f"{self.s.POWERDNS_API_URL}/api/v1/servers/localhost/zones/{domain}.",
                         headers={"X-API-Key": self.s.POWERDNS_API_KEY, "Accept": "application/json"}, timeout=10)
        return None if r.status_code == 404 else r.json()

    def dns(self, name: str, rdtype: str) -> list[str]:
        resolver = dns.resolver.Resolver(configure=False)
        host, port = self.s.POWERDNS_DNS_ADDRESS.split(":")
        resolver.nameservers, resolver.port = [host], int(port)
        try:
            return sorted(r.to_text() for r in resolver.resolve(name, rdtype))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []

    def imap_login(self, address: str, password: str) -> bool:
        host, port = self.s.IMAP_ADDRESS.split(":")
        imap = imaplib.IMAP4(host, int(port), timeout=10)
        try:
            imap.login(address, password)
            return imap.select("INBOX")[0] == "OK"
        except imaplib.IMAP4.error:
            return False
        finally:
            try:
                imap.logout()
            except Exception:
                pass


@pytest.fixture(scope="session")
def servers(settings):
    return Servers(settings)


@pytest.fixture(scope="session")
def converger(settings):
    from app.services.hosting.converge import Converger

    return Converger(settings)


def converged_once(db_conn, settings, converger, prefix: str):
    """Yields an external-domain subscription whose control is proven (so its site is published),
    converged once (domain `prefix-….com`); destroys it afterwards."""
    from tests.factories import make_subscription, unique_domain

    sid = make_subscription(db_conn, settings, domain=unique_domain(prefix), proven=True)
    assert converger.converge(sid) == "up"
    yield sid
    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    converger.converge(sid)


def converged_for_the_module(settings, converger, prefix: str):
    """converged_once on a connection of its own, for a module-scoped fixture (db_conn is per test)."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(settings.DATABASE_URL, row_factory=dict_row, autocommit=True) as conn:
        yield from converged_once(conn, settings, converger, prefix)
