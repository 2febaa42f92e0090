"""Taking over an account another system left on a web server: the checks that come first.

The operator's explicit command is the proof that the account is the company's to take over;
mpanel's own rule stays "adopt only what carries this stack's mark". Before anything is
written (a customer row, a claim, a zone's `account`, a mail domain's owner), the import reads
what is upstream and checks that a stack built from it would change nothing there:

- the account exists on the server, and no stack, order or claim holds it or its domain;
- its WHM package is a plan's package (and `--plan`, when given, is that plan), with the
  plan's disk quota;
- the PowerDNS zone exists, carries no other mark, and its managed rrsets (NS, apex and www A,
  MX, SPF, DMARC, DKIM) are what the zone provider would write for that account; every other
  record passes the DNS editor's rules (they become the customer's records, as they are);
- the mail domain carries no other owner;
- the billing is `external` or `stripe:<subscription id>`.

Every problem is named (which record, which package, and why) in one `ImportRefused`.
`check_import` is a pure function of what was read (`Upstream`), so the rules are tested
with values in memory; `read_upstream` reads it all.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app import db
from app.db.operators import imports as rows
from app.services.common.refusals import Refused
from app.services.hosting import servers as web_servers
from app.services.hosting.engine import provider_config, whm_client
from app.settings import Settings
from providers.clients.whm import megabytes
from providers.core.errors import NotFound, ProviderError
from providers.clients.powerdns import live_rrsets
from providers.rules.dns_records import (DEFAULT_DKIM_SELECTOR, MX_PRIORITY, SPF, absolute, checked_records,
                                         dmarc_text, relative, txt_text)
from providers.rules.names import bare, canonical

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
BILLING = re.compile(r"^(external|stripe:sub_[A-Za-z0-9]+)$")


class ImportRefused(Refused):
    """The account cannot be taken over without a change (or is not free to take): every reason."""

    def __init__(self, problems: list[str]):
        super().__init__("account", "; ".join(problems), code="import_refused")
        self.problems = problems


@dataclass(frozen=True)
class ImportRequest:
    server: str
    user: str
    email: str
    plan: str | None = None
    billing: str = "external"


@dataclass
class Upstream:
    """What was read for one account, everything the checks need."""

    server: dict
    account: dict | None
    plans: list[dict]
    nameservers: list[str]
    mail_host: str
    zone: dict | None = None                 # PowerDNS zone JSON with rrsets
    mail_domain: dict | None = None          # {name, owner, ...}
    whm_claim: dict | None = None            # the claims ledger's entry for the domain
    ordered_as: int | None = None            # a subscription holding the domain
    managed_as: int | None = None            # a subscription whose website is this account
    registered: bool = False                 # the domain is in the NameSilo account


@dataclass
class ImportPlan:
    """What the import would write: the plan, and the zone's records that become the customer's."""

    user: str
    domain: str
    plan: dict
    customer_records: list[dict] = field(default_factory=list)
    mail_domain: bool = False
    registered: bool = False


def check_import(request: ImportRequest, up: Upstream) -> ImportPlan:
    problems: list[str] = []
    if not EMAIL.match(request.email or ""):
        problems.append(f"email {request.email!r} is not an email address")
    if not BILLING.match(request.billing or ""):
        problems.append(f"billing {request.billing!r}: give stripe:<subscription id> or external")
    account = up.account
    if account is None:
        raise ImportRefused(problems + [f"there is no account {request.user} on server {up.server['id']}"])
    domain = bare(account["domain"])
    if up.managed_as is not None:
        problems.append(f"the account {request.user} is already managed by the stack sub-{up.managed_as}")
    if up.ordered_as is not None:
        problems.append(f"the domain {domain} is already ordered as sub-{up.ordered_as}")
    if up.whm_claim is not None:
        problems.append(f"the domain {domain} is claimed for a WHM account of the stack {up.whm_claim['owner']}")

    package = account.get("plan")
    matching = [p for p in up.plans if p["whm_package"] == package]
    plan = None
    if request.plan:
        plan = next((p for p in up.plans if p["slug"] == request.plan), None)
        if plan is None:
            problems.append(f"no plan {request.plan!r} (plans: {', '.join(p['slug'] for p in up.plans)})")
        elif plan["whm_package"] != package:
            problems.append(f"the plan {plan['slug']} is the package {plan['whm_package']}, the account is on "
                            f"{package!r}: the import would change the package")
    elif not matching:
        problems.append(f"the package {package!r} is no plan's (plans' packages: "
                        f"{', '.join(sorted({p['whm_package'] for p in up.plans}))}): add a plan for it or move "
                        "the account to a plan's package in WHM first")
    else:
        plan = matching[0]
    if plan is not None:
        quota = megabytes(account.get("disklimit"))
        if quota != plan["disk_quota_mb"]:
            problems.append(f"the account's disk quota is {account.get('disklimit')!r}, the plan {plan['slug']}'s "
                            f"{plan['disk_quota_mb']}M: the import would change the quota")

    records: list[dict] = []
    if up.zone is None:
        problems.append(f"there is no zone {domain} in PowerDNS: the import would create one")
    else:
        if up.zone.get("account"):
            problems.append(f"the zone {domain} is marked as the stack {up.zone['account']}'s")
        records, zone_problems = _zone_records(domain, up.zone, account.get("ip") or str(up.server["ip_address"]),
                                               up.nameservers, up.mail_host)
        problems += zone_problems
    if up.mail_domain is not None and up.mail_domain.get("owner"):
        problems.append(f"the mail domain {domain} is marked as the stack {up.mail_domain['owner']}'s")
    if problems or plan is None:
        raise ImportRefused(problems)
    return ImportPlan(request.user, domain, plan, records, up.mail_domain is not None, up.registered)


def _zone_records(domain: str, zone: dict, ip: str, nameservers: list[str], mail_host: str) -> tuple[list[dict], list[str]]:
    """The zone's customer records (as they are), and every managed rrset that differs from what
    the zone provider would write."""
    from providers.clients.powerdns import live_rrsets
    live = live_rrsets(zone)
    problems = []
    apex = canonical(domain)
    wanted = {
        (apex, "NS"): sorted(canonical(n) for n in nameservers),
        (apex, "A"): [ip],
        (absolute("www", domain), "A"): [ip],
        (apex, "MX"): [f"{MX_PRIORITY} {canonical(mail_host)}"],
        (absolute("_dmarc", domain), "TXT"): [dmarc_text(domain)],
    }
    for (name, rtype), contents in wanted.items():
        found = live.get((name, rtype), {}).get("records", [])
        shown = sorted(txt_text(c) if rtype == "TXT" else c for c in found)
        if sorted(shown) != sorted(contents):
            problems.append(f"the {relative(name, domain)} {rtype} record is {shown or 'missing'}, the zone would "
                            f"write {contents}")
    apex_txt = [txt_text(c) for c in live.get((apex, "TXT"), {}).get("records", [])]
    if SPF not in apex_txt:
        problems.append(f"the SPF record is {[t for t in apex_txt if t.startswith('v=spf1')] or 'missing'}, "
                        f"the zone would write {SPF!r}")
    dkim = absolute(f"{DEFAULT_DKIM_SELECTOR}._domainkey", domain)
    if (dkim, "TXT") not in live:
        problems.append(f"there is no DKIM record at {DEFAULT_DKIM_SELECTOR}._domainkey: the zone would add one")
    managed = set(wanted) | {(dkim, "TXT")}
    extra = []
    for (name, rtype), rrset in sorted(live.items()):
        if (name, rtype) in managed:
            continue
        for content in rrset["records"]:
            if (name, rtype) == (apex, "TXT") and txt_text(content) == SPF:
                continue
            extra.append({"name": relative(name, domain), "type": rtype,
                          "content": txt_text(content) if rtype == "TXT" else content, "ttl": rrset["ttl"]})
    records, record_problems = checked_records(extra, DEFAULT_DKIM_SELECTOR)
    problems += [f"a record our rules refuse: {p}" for p in record_problems]
    return records, problems


def read_upstream(settings: Settings, request: ImportRequest, clients: dict[str, Any] | None = None) -> Upstream:
    """Everything the checks need, read once; nothing is written."""
    clients = dict(clients or {})
    with db.transaction(settings.DATABASE_URL) as conn:
        server = web_servers.find(conn, request.server)
        plans = rows.plans(conn)
        managed_as = rows.holder_of_account(conn, server["id"], request.user)
    whm = clients.get("whm") or whm_client(settings, server["id"])
    try:
        account = whm.find_account(user=request.user)
    except ProviderError as exc:
        raise Refused("server", f"the WHM of server {server['id']} could not be read: {exc.message}", status=502)
    config = provider_config(settings)
    up = Upstream(server=server, account=account, plans=plans, managed_as=managed_as,
                  nameservers=config.nameservers, mail_host=settings.MAIL_SERVER_HOST or "")
    if account is None:
        return up
    domain = bare(account["domain"])
    with db.transaction(settings.DATABASE_URL) as conn:
        up.ordered_as = rows.holder_of_domain(conn, domain)
    from providers.clients.mailcore import MailCoreClient
    from providers.clients.namesilo import NameSiloClient
    from providers.clients.powerdns import PowerDnsClient
    from providers.core.claims import ClaimLedger

    up.zone = (clients.get("powerdns") or PowerDnsClient(config)).find_zone(domain)
    up.mail_domain = (clients.get("mailcore") or MailCoreClient(config)).get_domain(domain)
    up.whm_claim = (clients.get("claims") or ClaimLedger("whm", config)).find(domain)
    try:
        (clients.get("namesilo") or NameSiloClient(config)).domain_info(domain)
        up.registered = True
    except NotFound:
        up.registered = False
    return up


def import_account(settings: Settings, request: ImportRequest, clients: dict[str, Any] | None = None) -> ImportPlan:
    """Check the account can be taken over unchanged (ImportRefused otherwise; nothing written)."""
    return check_import(request, read_upstream(settings, request, clients))
