"""Proof of control for a domain we did not register (external or transfer orders).

Such an order is provisioned as any other (account, zone, mailboxes the customer logs into,
certificate when it can), but the shared mail core does not take the domain as local until the
customer shows the domain is theirs: mail to it from other tenants and from our own services is
relayed out as for any foreign domain, so it reaches whoever really owns the domain. Proof is
either of:
- the delegation points at our nameservers (read from the parent's referral or the configured
  resolver, app/services/domains/delegation.py), or
- a TXT record `_mpanel-verify.<domain>` carries the order's token.

Never asked: our own nameservers (they answer for every zone we host, including one an attacker
ordered): a DELEGATION_RESOLVER that is our POWERDNS_DNS_ADDRESS proves nothing. Once proven,
the domain row says so and a converge is requested in the same transaction: the mail domain's
`routable` input follows (desired state), and the mail core delivers locally from then on.
Checked by a sweep and by the panel's "Check now".
"""
from __future__ import annotations

import time
from typing import Callable

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from app import db
from app.db.domains import proof as rows
from app.jobs.defer import request_converge
from app.services.common.refusals import Refused
from app.services.customers.sites import site_of
from app.services.domains import delegation
from app.settings import Settings

LABEL = "_mpanel-verify"
TIMEOUT = 3.0
SWEEP_SECONDS = 10.0  # one sweep's share of the billing-and-mail worker (check_unproven_domains)


def record_name(domain: str) -> str:
    return f"{LABEL}.{domain}"


def check(settings: Settings, domain: str, token: str) -> dict:
    """{"proven_by": "delegation" | "txt" | None, "found": what was seen, for the panel}."""
    resolver = settings.DELEGATION_RESOLVER
    if resolver and settings.POWERDNS_DNS_ADDRESS and _same_server(resolver, settings.POWERDNS_DNS_ADDRESS):
        return {"proven_by": None, "found": "the resolver configured is our own nameserver, which proves nothing"}
    found = delegation.check(domain, (settings.NS1, settings.NS2), resolver)
    if found["state"] == "points at us":
        return {"proven_by": "delegation", "found": f"delegated to {', '.join(found['found'])}"}
    texts, error = _txt(record_name(domain), resolver or found["asked"])
    if token in texts:
        return {"proven_by": "txt", "found": f"{record_name(domain)} carries the token"}
    if error and found["error"]:
        return {"proven_by": None, "found": f"could not be checked: {error}"}
    seen = f"delegation {found['state'] or 'unknown'}; " + (
        f"{record_name(domain)} has {len(texts)} other TXT value(s)" if texts else f"no TXT at {record_name(domain)}")
    return {"proven_by": None, "found": seen}


def published_txt(settings: Settings, domain: str) -> tuple[list[str], str | None]:
    """The TXT strings at `_mpanel-verify.<domain>` as the world sees them (the configured
    resolver, else the one the delegation check asks), never our own nameservers."""
    resolver = settings.DELEGATION_RESOLVER
    if resolver and settings.POWERDNS_DNS_ADDRESS and _same_server(resolver, settings.POWERDNS_DNS_ADDRESS):
        return [], "the resolver configured is our own nameserver, which proves nothing"
    if not resolver:
        resolver = delegation.check(domain, (settings.NS1, settings.NS2), "")["asked"]
    return _txt(record_name(domain), resolver)


def _same_server(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def _txt(name: str, server: str) -> tuple[list[str], str | None]:
    """The TXT strings at `name` as the resolver answers (recursion desired), or the error."""
    if not server:
        return [], "no resolver is configured on this server"
    host, _, port = server.rpartition(":")
    try:
        query = dns.message.make_query(dns.name.from_text(name), dns.rdatatype.TXT)
        answer = dns.query.udp(query, host.strip("[]"), port=int(port or 53), timeout=TIMEOUT)
    except (OSError, dns.exception.DNSException, ValueError) as exc:
        return [], f"{server} did not answer ({type(exc).__name__})"
    if answer.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return [], f"{server} answered {dns.rcode.to_text(answer.rcode())}"
    return [b"".join(r.strings).decode(errors="replace") for rrset in answer.answer
            if rrset.rdtype == dns.rdatatype.TXT for r in rrset], None


def check_domain(settings: Settings, domain_id: int) -> bool:
    """Check one unproven domain and record what was found; True when it is proven now (its
    converge requested in the same transaction)."""
    with db.transaction(settings.DATABASE_URL) as conn:
        row = rows.unproven(conn, domain_id)
    if row is None:
        return False
    result = check(settings, row["name"], row["control_token"])  # DNS with no transaction open
    with db.transaction(settings.DATABASE_URL) as conn:
        proven = rows.record_check(conn, domain_id, result["found"], result["proven_by"])
        if proven:
            request_converge(conn, row["subscription_id"])
    return proven


def check_unproven_domains(settings: Settings, budget: float = SWEEP_SECONDS,
                           clock: Callable[[], float] = time.monotonic) -> int:
    """The sweep: live orders' unproven domains, the least recently checked first, each checked
    once until `budget` seconds are spent (the rest wait for the next sweep); how many were
    proven. The budget is there because the sweep shares a worker with Stripe's events: domains
    that never answer (up to TIMEOUT each) once held the events back for a minute."""
    with db.transaction(settings.DATABASE_URL) as conn:
        ids = rows.unproven_ids(conn)
    until, proven = clock() + budget, 0
    for domain_id in ids:
        if clock() >= until:
            break
        proven += check_domain(settings, domain_id)
    return proven


class NothingToProve(Refused):
    def __init__(self):
        super().__init__("domain", "this domain needs no proof: it is ours, already proven, or claimed by its "
                                   "owner", status=409)


def check_now(settings: Settings, user_id: int, subscription_id: int) -> bool:
    """The panel's "Check now": the customer's own order only."""
    with db.transaction(settings.DATABASE_URL) as conn:
        site_of(conn, user_id, subscription_id)
        domain_id = rows.unproven_of(conn, subscription_id)
    if domain_id is None:
        raise NothingToProve()
    return check_domain(settings, domain_id)


def view(conn, subscription_id: int) -> dict | None:
    """What the panel shows: None when nothing waits for proof, else the token and the last check."""
    row = rows.state_of(conn, subscription_id)
    if row is None or row["mode"] == "new_registration":
        return None
    return {"proven": row["control_proven_at"] is not None, "proven_by": row["control_proven_by"],
            "claimed_at": row["control_claimed_at"],
            "record": record_name(row["name"]), "token": row["control_token"],
            "checked_at": row["control_checked_at"], "found": row["control_check_result"]}
