"""Taking over the domain's NameSilo registration and the certificate installed on the account
(real engine, PowerDNS, pebble, the NameSilo and WHM stand-ins populated as the old system left
them): nothing registered, delegated, issued or installed again, and the first preview shows no
change. A domain the NameSilo account does not hold stays external and is never asked for again."""
from __future__ import annotations

import psycopg
import pytest
import requests
from cryptography import x509

from app.cli import main
from app.devtools.left_behind import leave_certificate, leave_registration
from app.services.hosting.converge import Converger
from app.services.hosting.drift import refresh_and_preview
from app.services.hosting.engine import provider_config
from app.services.operators.imports import ImportRefused, ImportRequest, check_account, import_account
from providers.clients.namesilo import NameSiloClient, nameservers_of
from providers.clients.whm import WhmClient
from providers.core.errors import NotFound


def _serial(pem: str) -> int:
    return x509.load_pem_x509_certificate(pem.encode()).serial_number


def _installed_at(settings, domain: str) -> int:
    """When the WHM stand-in last had a certificate installed for the domain (its own record)."""
    state = requests.get(f"{settings.CPANEL_WHM_URL.rstrip('/')}/_sandbox/state", timeout=10).json()
    return state["state"]["ssl"][domain]["installed"]


def _changes(found) -> list:
    return [(s["resource_name"], s["op"], s.get("diffs")) for s in found.steps
            if s.get("op") not in ("same", "refresh", None) or s.get("diffs")]


def test_a_registered_domain_and_its_installed_certificate_are_taken_over_unchanged(settings, db_conn,
                                                                                   left_in_place, capsys):
    user, domain, _site, _message = left_in_place
    config = provider_config(settings)
    registered = leave_registration(settings, domain, auto_renew=False)
    installed = leave_certificate(settings, domain)
    installed_at = _installed_at(settings, domain)

    checked = check_account(settings, ImportRequest("1", user, f"owner@{domain}"))
    assert checked.registered and checked.certificate.startswith("the installed certificate"), checked.certificate

    done = import_account(settings, ImportRequest("1", user, f"owner@{domain}"), operator="cli:test")
    assert done.finished, done.outcome
    assert done.registered and done.certificate == checked.certificate
    sid = done.subscription_id

    # What the operator types, and reads: nothing to change.
    capsys.readouterr()
    assert main(["stacks", "preview", str(sid)]) == 0
    assert capsys.readouterr().out.strip().splitlines() == [f"sub-{sid}: a converge would change nothing"]

    # The registration: ours now (the claim), and exactly as the old system left it.
    after = NameSiloClient(config).domain_info(domain)
    assert (after["expires"], nameservers_of(after), after["auto_renew"], after["locked"]) == \
        (registered["expires"], nameservers_of(registered), registered["auto_renew"], registered["locked"])
    with psycopg.connect(settings.MAILCORE_DATABASE_URL) as conn:
        assert conn.execute("SELECT owner FROM upstream_claims WHERE provider = 'namesilo' AND natural_key = %s",
                            (domain,)).fetchone() == (f"sub-{sid}",)
    row = db_conn.execute("SELECT mode, status, registrar, auto_renew, expires_at::date::text AS expires "
                          "FROM domains WHERE subscription_id = %s", (sid,)).fetchone()
    assert (row["mode"], row["status"], row["registrar"], row["auto_renew"], row["expires"]) == \
        ("new_registration", "active", "namesilo", False, registered["expires"])

    # The certificate: the one installed, never installed again, no new one issued.
    now = WhmClient(config).fetchsslinfo(domain)
    assert _serial(now["crt"]) == _serial(installed["crt"])
    assert _installed_at(settings, domain) == installed_at
    website = db_conn.execute("SELECT ssl_expires_at FROM websites WHERE subscription_id = %s", (sid,)).fetchone()
    assert website["ssl_expires_at"].date() == x509.load_pem_x509_certificate(
        installed["crt"].encode()).not_valid_after_utc.date()
    assert now["ssl_redirect"] == 1  # HTTPS forced, as for every site mpanel keeps

    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    Converger(settings).converge(sid)
    # A registration is the customer's asset: termination keeps it (auto-renew was off already).
    assert NameSiloClient(config).domain_info(domain)["expires"] == registered["expires"]


def test_a_domain_not_in_the_registrar_account_stays_external_and_untouched(settings, db_conn, left_in_place):
    user, domain, _site, _message = left_in_place
    config = provider_config(settings)

    done = import_account(settings, ImportRequest("1", user, f"owner@{domain}"), operator="cli:test")
    assert done.finished, done.outcome
    assert not done.registered and done.certificate.startswith("a new certificate is issued: no certificate")
    sid = done.subscription_id
    assert refresh_and_preview(settings, sid).drift is False

    row = db_conn.execute("SELECT mode, registrar FROM domains WHERE subscription_id = %s", (sid,)).fetchone()
    assert (row["mode"], row["registrar"]) == ("external", None)
    with pytest.raises(NotFound):
        NameSiloClient(config).domain_info(domain)
    with psycopg.connect(settings.MAILCORE_DATABASE_URL) as conn:
        assert conn.execute("SELECT 1 FROM upstream_claims WHERE provider = 'namesilo' AND natural_key = %s",
                            (domain,)).fetchone() is None
    # The certificate the import had issued is installed (nothing was there to take over).
    assert WhmClient(config).fetchsslinfo(domain)["crt"]

    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    Converger(settings).converge(sid)


def test_a_registered_domain_delegated_elsewhere_is_refused_with_nothing_written(settings, db_conn, left_in_place):
    user, domain, _site, _message = left_in_place
    registered = leave_registration(settings, domain, nameservers=["ns1.elsewhere-dns.net", "ns2.elsewhere-dns.net"])
    with pytest.raises(ImportRefused, match="delegated to ns1.elsewhere-dns.net, ns2.elsewhere-dns.net"):
        import_account(settings, ImportRequest("1", user, f"owner@{domain}"), operator="cli:test")
    assert db_conn.execute("SELECT count(*) AS n FROM domains WHERE name = %s", (domain,)).fetchone()["n"] == 0
    after = NameSiloClient(provider_config(settings)).domain_info(domain)
    assert nameservers_of(after) == nameservers_of(registered)
