"""A business another system left behind, found by the sync report; an import of an account on
a package no plan knows is refused before anything is written (the real WHM stand-in, PowerDNS,
the mail core and the NameSilo stand-in, populated directly as that system would have)."""
from __future__ import annotations

import secrets

import psycopg
import pytest

from app.services.hosting.engine import provider_config
from app.services.operators.imports import ImportRefused, ImportRequest, import_account
from app.services.operators.sync_report import sync_report
from providers.clients.namesilo import NameSiloClient
from providers.clients.powerdns import PowerDnsClient, replace
from providers.clients.whm import WhmClient


@pytest.fixture
def left_behind(settings):
    """An account with a file, a zone with the customer's own record, a mail domain with a mailbox
    and a registered domain: none of it marked by mpanel."""
    tag = secrets.token_hex(3)
    user, domain = f"lb{tag}", f"left-{tag}-mpanel-test.com"
    config = provider_config(settings)
    whm = WhmClient(config)
    whm.exchange("addpkg", {"name": f"legacy_{tag}", "quota": 1024}, post=True)
    whm.createacct(username=user, domain=domain, plan=f"legacy_{tag}", password="Old-System-Pass-9",
                   contact_email=f"owner@{domain}", quota_mb=None)
    dns = PowerDnsClient(config)
    dns.create_zone(domain, [replace(f"{domain}.", "NS", 3600, [{"content": "ns1.mpanel.test.", "disabled": False}]),
                             replace(f"shop.{domain}.", "CNAME", 300,
                                     [{"content": "shops.example.net.", "disabled": False}])], account="")
    with psycopg.connect(settings.MAILCORE_DATABASE_URL, autocommit=True) as conn:
        conn.execute("INSERT INTO mail_domains (name, owner) VALUES (%s, NULL)", (domain,))
        conn.execute("INSERT INTO mailboxes (address, local_part, domain, password_hash) VALUES (%s, 'info', %s, "
                     "'{PLAIN}x')", (f"info@{domain}", domain))
    NameSiloClient(config).register(domain, years=1, nameservers=["ns1.mpanel.test", "ns2.mpanel.test"],
                                    private=False, auto_renew=False)
    yield user, domain
    whm.removeacct(user)
    dns.delete_zone(domain)
    with psycopg.connect(settings.MAILCORE_DATABASE_URL, autocommit=True) as conn:
        conn.execute("DELETE FROM mail_domains WHERE name = %s", (domain,))


def test_the_sync_report_lists_what_another_system_left_and_no_stack_holds(settings, left_behind):
    user, domain = left_behind
    report = sync_report(settings, "1")
    assert not report.unreachable
    assert user in {a["user"] for a in report.unmanaged_accounts}
    assert domain in {z["zone"] for z in report.unmanaged_zones}
    assert domain in {d["domain"] for d in report.unmanaged_mail_domains}
    assert {"domain": domain} in report.unordered_registrations


def test_an_account_on_a_package_no_plan_knows_is_refused_and_nothing_is_written(settings, left_behind):
    user, domain = left_behind
    with pytest.raises(ImportRefused) as refused:
        import_account(settings, ImportRequest("1", user, f"owner@{domain}"))
    assert any(f"legacy_" in p and "no plan's" in p for p in refused.value.problems)
    config = provider_config(settings)
    assert PowerDnsClient(config).get_zone(domain)["account"] == ""
    assert WhmClient(config).find_account(user=user)["plan"].startswith("legacy_")
    with psycopg.connect(settings.MAILCORE_DATABASE_URL) as conn:
        assert conn.execute("SELECT owner FROM mail_domains WHERE name = %s", (domain,)).fetchone() == (None,)
    with psycopg.connect(settings.DATABASE_URL) as conn:
        assert conn.execute("SELECT count(*) FROM domains WHERE name = %s", (domain,)).fetchone() == (0,)
