"""What another hosting system leaves on the servers, written straight into them: a cPanel account
on a plan's package, its PowerDNS zone as mpanel's zone provider would write it (plus the
customer's own records), and a mail domain with a mailbox, none of it marked as any stack's;
and, where asked, the domain registered in the NameSilo account and a certificate installed on
the account.

Used by `mpanel bench takeover` to give the sync report and the import something to take over,
and by the import tests (tests/integration/imports/conftest.py), so both populate the servers
the same way. `forget` removes it all again (for what was never imported).
"""
from __future__ import annotations

import base64
from dataclasses import dataclass

import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.services.hosting.engine import provider_config
from app.services.hosting.specs import spec_defaults
from app.settings import Settings
from providers.clients.acme import AcmeClient
from providers.clients.mailcore import MailCoreClient, hash_password
from providers.clients.namesilo import NameSiloClient
from providers.clients.powerdns import PowerDnsClient, replace
from providers.clients.whm import WhmClient
from providers.rules.dns_records import DEFAULT_DKIM_SELECTOR, desired_rrsets

ACCOUNT_PASSWORD = "Old-System-Pass-9"
MAILBOX_PASSWORD = "Old-Mailbox-Pass-9"
CUSTOMER_RECORDS = [{"name": "shop", "type": "CNAME", "content": "shops.example.net", "ttl": 300},
                    {"name": "_github", "type": "TXT", "content": "verify=abc123", "ttl": 600}]


@dataclass(frozen=True)
class LeftBehind:
    user: str
    domain: str
    ip: str


def _old_systems_dkim_key() -> str:
    """The public half of a DKIM key the old system made (its private half stays with that system:
    the import keeps the zone's record as it is)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def leave_account(settings: Settings, user: str, domain: str, *, package: str = "mpanel_student",
                  quota_mb: int = 5120, whm: WhmClient | None = None) -> LeftBehind:
    """A bare cPanel account, as the old system made it."""
    whm = whm or WhmClient(provider_config(settings))
    whm.createacct(username=user, domain=domain, plan=package, password=ACCOUNT_PASSWORD,
                   contact_email=f"owner@{domain}", quota_mb=quota_mb)
    return LeftBehind(user, domain, whm.find_account(user=user)["ip"])


def leave_site(settings: Settings, user: str, domain: str, *, whm: WhmClient | None = None,
               dns: PowerDnsClient | None = None) -> LeftBehind:
    """An account an import can take over unchanged: the account, its zone as the zone provider
    would write it with the customer's own records, and a mail domain with `info@` (its mail
    directory is made empty: mail in it is left to the caller)."""
    config = provider_config(settings)
    left = leave_account(settings, user, domain, whm=whm)
    defaults = spec_defaults(settings)
    public = _old_systems_dkim_key()
    wanted = desired_rrsets({"domain": domain, "nameservers": list(defaults.nameservers), "server_ip": left.ip,
                             "mail_host": defaults.mail_host, "dkim_selector": DEFAULT_DKIM_SELECTOR,
                             "records": CUSTOMER_RECORDS}, public)
    (dns or PowerDnsClient(config)).create_zone(
        domain, [replace(name, rtype, v["ttl"], [{"content": c, "disabled": False} for c in v["records"]])
                 for (name, rtype), v in sorted(wanted.items())], account="")
    with psycopg.connect(settings.MAILCORE_DATABASE_URL, autocommit=True) as conn:
        conn.execute("INSERT INTO mail_domains (name, owner, dkim_selector) VALUES (%s, NULL, %s)",
                     (domain, DEFAULT_DKIM_SELECTOR))
        conn.execute("INSERT INTO mailboxes (address, local_part, domain, password_hash, quota_mb) "
                     "VALUES (%s, 'info', %s, %s, 2048)", (f"info@{domain}", domain, hash_password(MAILBOX_PASSWORD)))
    # The mailbox's own directory, as the old system's delivery made it (empty: no mail yet).
    for part in ("cur", "new", "tmp"):
        (MailCoreClient(config).maildir(domain, "info") / "Maildir" / part).mkdir(parents=True, exist_ok=True)
    return left


def leave_registration(settings: Settings, domain: str, *, nameservers: list[str] | None = None,
                       auto_renew: bool = False, years: int = 2) -> dict:
    """The domain registered in the NameSilo account by the old system (through the same API key),
    delegated to our nameservers unless others are given; what getDomainInfo then says."""
    client = NameSiloClient(provider_config(settings))
    client.register(domain, years=years, nameservers=nameservers or list(spec_defaults(settings).nameservers),
                    private=True, auto_renew=auto_renew)
    return client.domain_info(domain)


def leave_certificate(settings: Settings, domain: str, *, key_type: str = "rsa2048") -> dict:
    """A certificate the old system had the CA issue (DNS-01 in the zone, as any ACME client
    would) and installed on the account; what WHM's fetchsslinfo then says."""
    config = provider_config(settings)
    cert = AcmeClient(config).issue(domain, [f"www.{domain}"], key_type)
    whm = WhmClient(config)
    whm.installssl(domain=domain, crt=cert["certificate_pem"], key=cert["private_key_pem"], cab=cert["chain_pem"])
    return whm.fetchsslinfo(domain)


def forget(settings: Settings, user: str, domain: str) -> None:
    """Remove what `leave_site` or `leave_account` wrote (whatever of it is still there)."""
    config = provider_config(settings)
    try:
        WhmClient(config).removeacct(user)
    except Exception:
        pass
    try:
        PowerDnsClient(config).delete_zone(domain)
    except Exception:
        pass
    with psycopg.connect(settings.MAILCORE_DATABASE_URL, autocommit=True) as conn:
        conn.execute("DELETE FROM mail_domains WHERE name = %s", (domain,))
        conn.execute("DELETE FROM upstream_claims WHERE natural_key = %s", (domain,))
