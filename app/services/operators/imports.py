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
- a domain in the NameSilo account is taken over as registered by us (the order's domain mode
  `new_registration`): no other stack may have claimed it, and its nameservers must be ours, in
  our order (an import never redelegates a domain: the operator moves it to our nameservers
  first, or the zone being imported is not the one the world sees); its auto-renewal is kept as
  the customer's choice and its lock left as it is. A domain not in the account stays external;
- the certificate installed on the account is taken over when it can serve on
  (providers/rules/certificates.py); otherwise the first converge issues one, and the check
  says why (never a refusal: a new certificate changes nothing the customer sees);
- the billing is `external` or `stripe:<subscription id>`, a Stripe subscription that bills the
  account's plan and no other order (app/services/operators/import_billing.py).

Every problem is named (which record, which package, and why) in one `ImportRefused`.
`check_import` is a pure function of what was read (`Upstream`), so the rules are tested
with values in memory; `read_upstream` reads it all.

`import_account` then takes the account over: in one transaction the customer (invited by
email to set a panel password), the subscription (active, imported, billed as given), its
domain, mailboxes and DNS-editor records (the zone's own, unchanged), the import row and an
audit entry naming the operator's command; then the stack's first converge, whose resources
take over (read and mark, providers/core/resource.py TAKEOVER) the account, zone, mail domain,
mailboxes, registration and certificate instead of creating them. The converge is also queued in that transaction, and
the import row stays open until it succeeds: an import killed half-way is finished by the
queued job or by running the same import again (nothing upstream was changed before the
converge, and the converge's takeover accepts what it marked itself).
"""
from __future__ import annotations

import getpass
import re
import secrets
import shlex
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from app import db
from app.db.customers import customers
from app.db.operators import imports as rows
from app.db.operators import staff as staff_rows
from app.jobs.defer import request_converge
from app.services.common.refusals import Refused
from app.services.customers.customer_account import invite
from app.services.domains.dns_editor import keep_imported_records
from app.services.operators import import_billing
from app.services.operators.import_billing import StripeLink
from app.services.orders.lifecycle import Outcome
from app.services.orders.orders import Order, ReturningCustomer, place_order
from app.services.hosting import servers as web_servers
from app.services.hosting.converge import Converger
from app.services.hosting.errors import PermanentConvergeError, TransientConvergeError
from app.services.hosting.engine import provider_config, whm_client
from app.services.hosting.specs import spec_defaults
from app.settings import Settings
from providers.clients.namesilo import nameservers_of, yes
from providers.clients.whm import megabytes
from providers.core.errors import NotFound, ProviderError
from providers.clients.powerdns import live_rrsets
from providers.rules.dns_records import (DEFAULT_DKIM_SELECTOR, SPF, absolute, checked_records, desired_rrsets,
                                         managed_names, relative, txt_text)
from providers.rules.certificates import takeover_problem
from providers.rules.names import bare, canonical

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
BILLING = re.compile(r"^(external|stripe:sub_[A-Za-z0-9]+)$")
# A mailbox the mail core may hold that mpanel's rows can say as it is (app/db/migrations/0001).
LOCAL_PART = re.compile(r"^[a-z0-9._-]{1,64}$")
MAILBOX_QUOTA = (10, 102400)


class ImportRefused(Refused):
    """The account cannot be taken over without a change (or is not free to take): every reason."""

    def __init__(self, problems: list[str], field: str = "account"):
        super().__init__(field, "; ".join(problems), code="import_refused")
        self.problems = problems


def _refused(problems: list[str], billing_problems: list[str]) -> ImportRefused:
    # The field is the billing when it is the only thing wrong: the operator fixes `--billing`.
    return ImportRefused(problems + billing_problems, "billing" if billing_problems and not problems else "account")


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
    mail_domain: dict | None = None          # {name, owner, dkim_selector, routable, ...}
    mailboxes: list[dict] = field(default_factory=list)  # the mail domain's: address, local_part, quota_mb, active
    whm_claim: dict | None = None            # the claims ledger's entry for the domain
    ordered_as: int | None = None            # a subscription holding the domain
    managed_as: int | None = None            # a subscription whose website is this account
    registered: bool = False                 # the domain is in the NameSilo account
    registration: dict | None = None         # its getDomainInfo reply
    registration_claim: dict | None = None   # the claims ledger's NameSilo entry for the domain
    certificate: dict | None = None          # WHM's fetchsslinfo for the domain (crt, key, cab)
    stripe: StripeLink | None = None         # `--billing stripe:<id>`: what Stripe and our rows say of it


@dataclass
class ImportPlan:
    """What the import would write: the plan, and the zone's records that become the customer's."""

    user: str
    domain: str
    plan: dict
    customer_records: list[dict] = field(default_factory=list)
    mail_domain: bool = False
    registered: bool = False
    mailboxes: list[dict] = field(default_factory=list)  # local_part, quota_mb
    stripe: StripeLink | None = None  # the Stripe subscription to link; None: billed elsewhere
    registration: dict | None = None  # registered: auto_renew and expires, as the registrar has them
    certificate: str = ""             # what the first converge does with the certificate, in words

    @property
    def domain_mode(self) -> str:
        # A domain in our registrar account is one we register (orders' domain modes).
        return "new_registration" if self.registered else "external"

    @property
    def billing_cycle(self) -> str:
        return self.stripe.cycle if self.stripe else "monthly"


def check_import(request: ImportRequest, up: Upstream) -> ImportPlan:
    problems: list[str] = []
    billing_problems: list[str] = []
    if not EMAIL.match(request.email or ""):
        problems.append(f"email {request.email!r} is not an email address")
    if not BILLING.match(request.billing or ""):
        billing_problems.append(f"--billing {request.billing!r}: give stripe:<subscription id> or external")
    account = up.account
    if account is None:
        raise _refused(problems + [f"there is no account {request.user} on server {up.server['id']}"],
                       billing_problems)
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
    if int(account.get("suspended") or 0):
        problems.append(f"the account {request.user} is suspended in WHM: unsuspend it first (an imported account "
                        "starts active)")
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
    mailboxes: list[dict] = []
    if up.mail_domain is not None:
        if up.mail_domain.get("owner"):
            problems.append(f"the mail domain {domain} is marked as the stack {up.mail_domain['owner']}'s")
        if (up.mail_domain.get("dkim_selector") or DEFAULT_DKIM_SELECTOR) != DEFAULT_DKIM_SELECTOR:
            problems.append(f"the mail domain {domain} signs with the DKIM selector "
                            f"{up.mail_domain['dkim_selector']!r}, the zone's is {DEFAULT_DKIM_SELECTOR!r}")
        if up.mail_domain.get("routable") is False:
            problems.append(f"the mail domain {domain} relays its mail out (routable is off): the import would turn "
                            "local delivery on")
        mailboxes, mailbox_problems = _mailboxes(up.mailboxes)
        problems += mailbox_problems
    registration = None
    if up.registered:
        registration, registration_problems = _registration(domain, up.registration or {}, up.registration_claim,
                                                            up.nameservers)
        problems += registration_problems
    if not billing_problems:
        billing_problems = import_billing.problems(request.billing, up.stripe, plan)
    if problems or billing_problems or plan is None:
        raise _refused(problems, billing_problems)
    return ImportPlan(request.user, domain, plan, records, up.mail_domain is not None, up.registered, mailboxes,
                      up.stripe, registration, certificate_plan(domain, up.certificate))


def certificate_plan(domain: str, installed: dict | None) -> str:
    """What the first converge does with the certificate, in the words of the import's report."""
    problem = takeover_problem(installed, [domain, f"www.{domain}"])
    if problem is None:
        return f"the installed certificate (expires {_expiry(installed)}) is taken over"
    return f"a new certificate is issued: {problem}"


def _expiry(installed: dict) -> str:
    from cryptography import x509

    return f"{x509.load_pem_x509_certificate(installed['crt'].encode()).not_valid_after_utc:%Y-%m-%d}"


def _registration(domain: str, info: dict, claim: dict | None, nameservers: list[str]) -> tuple[dict, list[str]]:
    """The registration as the import keeps it (auto-renewal and expiry as the registrar has them),
    and every reason it cannot be taken over unchanged."""
    problems = []
    if claim is not None:
        problems.append(f"the domain {domain} is claimed at the registrar for the stack {claim['owner']}")
    status = str(info.get("status") or "")
    if status.lower() != "active":
        # An expired (or outbound, or held) registration is not one a stack can keep as it is: the
        # operator renews or settles it at NameSilo first, then imports the account.
        problems.append(f"the domain {domain} is in the NameSilo account with the status {status or 'unknown'}: "
                        "only an active registration is taken over; settle it at NameSilo first")
    have, want = nameservers_of(info), [bare(n) for n in nameservers]
    if have != want:
        problems.append(f"the domain {domain} is in the NameSilo account delegated to {', '.join(have) or 'nothing'}, "
                        f"the registration would delegate it to {', '.join(want)}: change its nameservers at "
                        "NameSilo first (an import never redelegates a domain)")
    return {"auto_renew": yes(info.get("auto_renew")), "expires": info.get("expires") or None}, problems


def _mailboxes(found: list[dict]) -> tuple[list[dict], list[str]]:
    """The mail domain's mailboxes as rows of ours, and every one our rows cannot say as it is."""
    rows_, problems = [], []
    low, high = MAILBOX_QUOTA
    for box in found:
        if not LOCAL_PART.match(box["local_part"] or ""):
            problems.append(f"the mailbox {box['address']}: its name is not one mpanel can keep")
        elif not low <= int(box["quota_mb"]) <= high:
            problems.append(f"the mailbox {box['address']} has a quota of {box['quota_mb']} MB, outside "
                            f"{low}-{high}: the import would change it")
        elif not box["active"]:
            problems.append(f"the mailbox {box['address']} is disabled: the import would switch it on")
        else:
            rows_.append({"local_part": box["local_part"], "quota_mb": int(box["quota_mb"])})
    return rows_, problems


def _zone_records(domain: str, zone: dict, ip: str, nameservers: list[str], mail_host: str) -> tuple[list[dict], list[str]]:
    """The zone's customer records (as they are), and every rrset that differs from what the zone
    provider would write for them (by its own rule, providers/rules/dns_records.desired_rrsets:
    what the zone's first preview compares)."""
    live = live_rrsets(zone)
    problems = []
    apex = canonical(domain)
    selector = DEFAULT_DKIM_SELECTOR
    managed = {(absolute(rel, domain), rtype) for rel, rtype in managed_names({"dkim_selector": selector})}
    extra = []
    for (name, rtype), rrset in sorted(live.items()):
        if (name, rtype) in managed:
            continue
        for content in rrset["records"]:
            if (name, rtype) == (apex, "TXT") and txt_text(content) == SPF:
                continue
            extra.append({"name": relative(name, domain), "type": rtype,
                          "content": txt_text(content) if rtype == "TXT" else content, "ttl": rrset["ttl"]})
    records, record_problems = checked_records(extra, selector)
    problems += [f"a record our rules refuse: {p}" for p in record_problems]
    dkim = [txt_text(c) for c in live.get((absolute(f"{selector}._domainkey", domain), "TXT"), {}).get("records", [])]
    public = next((t.split("p=", 1)[1].strip() for t in dkim if "p=" in t), "")
    if not public:
        problems.append(f"there is no DKIM record at {selector}._domainkey: the zone would add one")
    if record_problems or not public:
        return records, problems
    wanted = desired_rrsets({"domain": domain, "nameservers": [bare(n) for n in nameservers], "server_ip": ip,
                             "mail_host": bare(mail_host), "dkim_selector": selector, "records": records}, public)
    for key in sorted(set(wanted) | set(live)):
        have, want = live.get(key), wanted.get(key)
        if have == want:
            continue
        name = relative(key[0], domain)
        if have is None:
            problems.append(f"there is no {name} {key[1]} record: the zone would write {_shown(key[1], want)}")
        elif want is None:
            problems.append(f"the {name} {key[1]} record {_shown(key[1], have)} would be removed")
        else:
            problems.append(f"the {name} {key[1]} record is {_shown(key[1], have)}, the zone would write "
                            f"{_shown(key[1], want)}")
    return records, problems


def _shown(rtype: str, rrset: dict) -> str:
    contents = [txt_text(c) if rtype == "TXT" else c for c in rrset["records"]]
    return f"{contents} (ttl {rrset['ttl']})"


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
    defaults = spec_defaults(settings)  # the nameservers and mail host every spec carries
    up = Upstream(server=server, account=account, plans=plans, managed_as=managed_as,
                  nameservers=list(defaults.nameservers), mail_host=defaults.mail_host)
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
    mailcore = clients.get("mailcore") or MailCoreClient(config)
    up.mail_domain = mailcore.get_domain(domain)
    up.mailboxes = mailcore.list_mailboxes(domain) if up.mail_domain is not None else []
    up.whm_claim = (clients.get("claims") or ClaimLedger("whm", config)).find(domain)
    try:
        up.registration = (clients.get("namesilo") or NameSiloClient(config)).domain_info(domain)
        up.registered = True
    except NotFound:
        up.registered = False
    if up.registered:
        up.registration_claim = (clients.get("registrar_claims") or ClaimLedger("namesilo", config)).find(domain)
    try:
        up.certificate = whm.fetchsslinfo(domain)
    except NotFound:
        up.certificate = None
    if BILLING.match(request.billing or ""):
        up.stripe = import_billing.read_link(settings, request.billing)
    return up


def check_account(settings: Settings, request: ImportRequest, clients: dict[str, Any] | None = None) -> ImportPlan:
    """Check the account can be taken over unchanged (ImportRefused otherwise; nothing written)."""
    return check_import(request, read_upstream(settings, request, clients))


@dataclass(frozen=True)
class Imported:
    subscription_id: int
    domain: str
    plan: str
    outcome: str          # what the first converge did ("up"), or why it did not finish
    finished: bool
    resumed: bool = False  # an interrupted import of this account, finished now
    certificate: str = ""  # what the check said the first converge does with the certificate
    registered: bool = False  # the registration was taken over (the domain is in the NameSilo account)


def import_account(settings: Settings, request: ImportRequest, clients: dict[str, Any] | None = None, *,
                   operator: str | None = None, command: str | None = None, converge: bool = True) -> Imported:
    """Take the account over (see the module's doc): the checks, the rows in one transaction, then
    the stack's first converge. An import of this account left open (killed before its converge
    finished) is finished instead. ImportRefused when the checks fail: nothing written."""
    with db.transaction(settings.DATABASE_URL) as conn:
        server = web_servers.find(conn, request.server)
        pending = rows.open_import(conn, server["id"], request.user)
    if pending is not None:
        return _finish(settings, pending["subscription_id"], resumed=True, converge=converge)
    plan = check_import(request, read_upstream(settings, request, clients))
    operator = operator or f"cli:{getpass.getuser()}"
    command = command or shlex.join(["mpanel", "import", "account", request.server, request.user,
                                     "--email", request.email, "--billing", request.billing]
                                    + (["--plan", request.plan] if request.plan else []))
    try:
        with db.transaction(settings.DATABASE_URL) as conn:
            sid = _write_rows(conn, settings, request, plan, server["id"], operator, command)
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name != "subscriptions_stripe_subscription_id_key":
            raise
        # Another import or order took the Stripe subscription between the check and the write.
        raise ImportRefused([f"--billing {request.billing}: the Stripe subscription was just linked to another "
                             "subscription"], "billing") from exc
    done = _finish(settings, sid, converge=converge)
    return replace(done, certificate=plan.certificate, registered=plan.registered)


def _write_rows(conn, settings: Settings, request: ImportRequest, plan: ImportPlan, server_id: int, operator: str,
                command: str) -> int:
    """Every row of the import, in the caller's one transaction; the converge requested with them."""
    known = customers.lock_user_by_email(conn, request.email)
    # The order's rows as a checkout writes them (app/services/orders/orders.py), for free; an
    # email that is already a customer's adds the site to that customer.
    placed = place_order(conn, settings, Order(
        email=request.email, first_name=request.user, last_name="", plan_slug=plan.plan["slug"],
        billing_cycle=plan.billing_cycle, domain=plan.domain, domain_mode=plan.domain_mode,
        # Nobody knows this password: the customer sets theirs from the invitation.
        password=secrets.token_urlsafe(32)), free=plan.stripe is None, keep_details=True,
        returning=ReturningCustomer(known["id"], known["customer_id"], []) if known else None)
    if known is None:
        invite(conn, settings, placed.user_id, request.email)
    sid, domain_id = placed.subscription_id, placed.domain_id
    rows.mark_imported(conn, sid, server_id=server_id, username=request.user, billed_externally=plan.stripe is None,
                       stripe_subscription_id=plan.stripe.stripe_subscription_id if plan.stripe else None)
    if plan.registration is not None:
        rows.mark_registered(conn, sid, auto_renew=plan.registration["auto_renew"],
                             expires=plan.registration["expires"])
    if plan.stripe is not None:
        # Renewals, failures and cancellations follow from here as for any order: the webhook
        # finds the order by this Stripe id; its status and period are Stripe's from the start.
        billed = Outcome()
        import_billing.link(conn, settings, sid, plan.stripe, billed)
        billed.request_in(conn)
    keep_imported_records(conn, domain_id, plan.customer_records)
    for mailbox in plan.mailboxes:
        rows.insert_mailbox(conn, sid, mailbox["local_part"], mailbox["quota_mb"])
    rows.record_import(conn, subscription_id=sid, server_id=server_id, username=request.user,
                       billing=request.billing, command=command, operator=operator)
    staff_rows.audit(conn, staff_id=None, staff_email=operator, action="import account", subscription_id=sid,
                     outcome="imported", detail=f"proof of ownership: the operator's command `{command}`",
                     address=None)
    request_converge(conn, sid)
    return sid


def _finish(settings: Settings, sid: int, *, resumed: bool = False, converge: bool = True) -> Imported:
    """The import's first converge; the import row closes when it succeeds."""
    with db.transaction(settings.DATABASE_URL) as conn:
        site = conn.execute("SELECT d.name, p.slug FROM subscriptions s JOIN domains d ON d.subscription_id = s.id "
                            "JOIN plans p ON p.id = s.plan_id WHERE s.id = %s", (sid,)).fetchone()
    if not converge:
        return Imported(sid, site["name"], site["slug"], "queued", False, resumed)
    try:
        outcome = Converger(settings).converge(sid, force=True)
    except (PermanentConvergeError, TransientConvergeError) as exc:
        return Imported(sid, site["name"], site["slug"], f"the first converge failed: {exc}", False, resumed)
    with db.transaction(settings.DATABASE_URL) as conn:
        rows.finish(conn, sid)
    return Imported(sid, site["name"], site["slug"], outcome, True, resumed)
