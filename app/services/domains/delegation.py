"""Whether an external domain's delegation already points at our nameservers (the domain page).

The customer changes the nameservers at their own registrar; the parent zone (the TLD) then
delegates the domain to NS1/NS2. We ask a resolver (DELEGATION_RESOLVER, else the machine's own)
for the domain's NS records and take them from the answer, or from the referral's authority
section when the server asked is the parent itself. Nothing is cached or stored: the page shows
what was found just now, or that nobody could be asked.
"""
from __future__ import annotations

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

TIMEOUT = 3.0


def verdict(found: list[str], ours: tuple[str, ...]) -> str:
    """"points at us" (exactly our nameservers), "partly" (ours mixed with others: resolvers
    then pick either, so mail and web half work) or "not yet"."""
    found_set, ours_set = {_bare(n) for n in found}, {_bare(n) for n in ours}
    if found_set and found_set == ours_set:
        return "points at us"
    if found_set & ours_set:
        return "partly"
    return "not yet"


def check(domain: str, ours: tuple[str, ...], resolver: str = "") -> dict:
    """{"state": verdict or None, "found": [nameservers], "asked": server, "error": reason or None}."""
    servers = [resolver] if resolver else [f"{ns}:53" for ns in _system_resolvers()]
    if not servers:
        return {"state": None, "found": [], "asked": "", "error": "no resolver is configured on this server"}
    error = ""
    for server in servers:
        try:
            found = _nameservers(domain, server)
        except (OSError, dns.exception.DNSException, ValueError) as exc:
            error = f"{server} did not answer ({type(exc).__name__})"
            continue
        return {"state": verdict(found, ours), "found": found, "asked": server, "error": None}
    return {"state": None, "found": [], "asked": servers[-1], "error": error}


def _nameservers(domain: str, server: str) -> list[str]:
    host, _, port = server.rpartition(":")
    name = dns.name.from_text(domain)
    query = dns.message.make_query(name, dns.rdatatype.NS)  # recursion desired: a resolver resolves
    answer = dns.query.udp(query, host.strip("[]"), port=int(port), timeout=TIMEOUT)
    if answer.flags & dns.flags.TC:
        answer = dns.query.tcp(query, host.strip("[]"), port=int(port), timeout=TIMEOUT)
    if answer.rcode() == dns.rcode.NXDOMAIN:
        return []
    if answer.rcode() != dns.rcode.NOERROR:
        raise ValueError(dns.rcode.to_text(answer.rcode()))
    for section in (answer.answer, answer.authority):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.NS and rrset.name == name:
                return sorted(_bare(r.target.to_text()) for r in rrset)
    return []


def _system_resolvers() -> list[str]:
    try:
        return list(dns.resolver.Resolver().nameservers)
    except dns.exception.DNSException:
        return []


def _bare(name: str) -> str:
    return name.strip().lower().rstrip(".")
