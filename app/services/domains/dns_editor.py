"""The customer's DNS editor: their own records as desired state, applied by the next converge.

A record the customer adds is checked here with the zone provider's own rules
(providers/rules/dns_records.py: content per type, relative names, TTL bounds, CNAME exclusivity, no
record at a name/type the zone manages), plus what only the panel knows: names typed in full
(`shop.example.com`) are taken relative to the zone and names outside it refused, the types
offered to customers, and the plan's record limit. Then it is a row in `dns_records`, its
content in the canonical form the zone takes as it is (TXT quoted: unquoted once, by the zone,
never twice), and a
converge is requested in the same transaction; the zone's next `up` adds it as an extra rrset.

The records mpanel manages (NS, SOA, the apex and www A, MX, SPF, DMARC, DKIM, ACME challenges)
are shown read-only with the reason, from the live zone; a customer record can never replace
or shadow one (the provider refuses it too). The live state of each customer record is read
from PowerDNS: "live" once the zone serves it, "being applied" until then.
"""
from __future__ import annotations

from app import db
from app.db.domains import dns_records as rows
from app.jobs.defer import request_converge
from app.services.common.refusals import Refused
from app.services.customers.sites import NotYourSite, find_site, site_of
from app.services.hosting.engine import provider_config
from app.settings import Settings
from providers.clients.powerdns import PowerDnsClient, live_rrsets
from providers.core.errors import ProviderError
from providers.rules.dns_records import (ACME_LABEL, DEFAULT_DKIM_SELECTOR, canonical_content, human_content,
                                         record_set_problems, stored_record)

CUSTOMER_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA")
# The dns_records table's bounds (a day at most: a mistake must not stick in caches for a week).
MIN_TTL, MAX_TTL = 60, 86400
DEFAULT_TTL = 3600

# Why a record of the zone is not the customer's to change, by (relative name, type).
MANAGED_WHY = {
    ("@", "NS"): "our nameservers: the zone is served by them",
    ("@", "A"): "your website: follows the server your account is on",
    ("www", "A"): "your website: follows the server your account is on",
    ("@", "MX"): "your mailboxes: mail for the domain comes to our mail server",
    ("_dmarc", "TXT"): "mail authentication (DMARC)",
    (f"{DEFAULT_DKIM_SELECTOR}._domainkey", "TXT"): "mail signing (DKIM)",
}


class RecordRefused(Refused):
    def __init__(self, status: int, field: str, message: str):
        super().__init__(field, message, status=status)


def _relative(name: str | None, domain: str) -> str:
    """What the customer typed as a name, relative to the zone ('@' for the apex). A name typed
    in full must be inside the zone; one ending in a top-level domain's label (shop.other.com
    in example.com) is taken as a name typed in full, outside it."""
    typed = (name or "").strip().lower()
    name = typed.rstrip(".")
    if name in ("", "@", domain):
        return "@"
    if name.endswith("." + domain):
        return name[: -len(domain) - 1]
    if typed.endswith(".") or ("." in name and name.rsplit(".", 1)[-1] == domain.rsplit(".", 1)[-1]):
        raise RecordRefused(422, "name", f"{name} is not inside {domain}: use a name under it, or @ for {domain}")
    return name


def _ttl(value: str | None) -> int:
    text = (value or "").strip()
    if not text:
        return DEFAULT_TTL
    if not text.isdigit() or not MIN_TTL <= int(text) <= MAX_TTL:
        raise RecordRefused(422, "ttl", f"a TTL is a whole number of seconds from {MIN_TTL} to {MAX_TTL}")
    return int(text)


def add_record(settings: Settings, user_id: int, subscription_id: int, form: dict) -> dict:
    """Check and record one customer record, and request the converge that publishes it."""
    rtype = (form.get("type") or "").strip().upper()
    if rtype not in CUSTOMER_TYPES:
        raise RecordRefused(422, "type", f"choose one of {', '.join(CUSTOMER_TYPES)}")
    ttl = _ttl(form.get("ttl"))
    with db.transaction(settings.DATABASE_URL) as conn:
        site = _editable_site(conn, user_id, subscription_id)
        name = _relative(form.get("name"), site["domain"])
        if name.split(".")[0] == ACME_LABEL:
            raise RecordRefused(422, "name", f"{ACME_LABEL} names are used for certificate validation")
        try:
            record = stored_record({"name": name, "type": rtype, "content": form.get("content") or "", "ttl": ttl})
        except ValueError as exc:
            raise RecordRefused(422, _field_of(str(exc)), str(exc)) from None
        existing = rows.records(conn, site["domain_id"])
        if len(existing) >= site["dns_record_limit"]:
            raise RecordRefused(422, "name", f"{site['plan']} includes {site['dns_record_limit']} DNS records of "
                                             "your own, all in use: remove one or upgrade")
        together = [dict(r, ttl=ttl) if (r["name"], r["type"]) == (name, rtype) else dict(r) for r in existing]
        problems = record_set_problems(together + [record])
        if problems:
            raise RecordRefused(422, "name", problems[0])
        if not rows.insert(conn, site["domain_id"], record):
            raise RecordRefused(422, "content", "that record exists already")
        rows.set_rrset_ttl(conn, site["domain_id"], name, rtype, ttl)
        request_converge(conn, subscription_id)
    return record


def keep_imported_records(conn, domain_id: int, records: list[dict]) -> None:
    """An imported zone's own records (already checked by the import against these rules) as the
    customer's, unchanged, in the import's transaction (app/services/operators/imports.py)."""
    for record in records:
        rows.insert(conn, domain_id, record)


def _editable_site(conn, user_id: int, subscription_id: int) -> dict:
    """The customer's active, built site whose zone we serve, its subscription row locked."""
    site_of(conn, user_id, subscription_id, active=True, lock=True)
    site = rows.editable_site(conn, subscription_id)
    if site is None:  # theirs, but not built yet: the same answer
        raise NotYourSite(active=True)
    return site


def _field_of(message: str) -> str:
    """The form field a provider rule's message is about ("ttl ...", "name ...", "TXT content ...")."""
    first = message.split(" ", 1)[0]
    if first in ("type", "name", "ttl"):
        return first
    return "name" if "managed by the zone" in message else "content"


def remove_record(settings: Settings, user_id: int, subscription_id: int, record_id: int) -> dict:
    with db.transaction(settings.DATABASE_URL) as conn:
        site = find_site(conn, user_id, subscription_id, active=True, lock=True) \
            and rows.editable_site(conn, subscription_id)
        removed = rows.delete(conn, site["domain_id"], record_id) if site else None
        if removed is None:
            raise RecordRefused(404, "record", "no such record of yours (the zone's own records cannot be removed)")
        request_converge(conn, subscription_id)
    return removed


def reset_to_defaults(settings: Settings, user_id: int, subscription_id: int) -> int:
    """Remove every record of the customer's: the zone goes back to what mpanel manages."""
    with db.transaction(settings.DATABASE_URL) as conn:
        site = _editable_site(conn, user_id, subscription_id)
        removed = rows.delete_all(conn, site["domain_id"])
        request_converge(conn, subscription_id)
    return removed


def zone_view(settings: Settings, user_id: int, subscription_id: int) -> dict:
    """The editor's page: the customer's records with their live state, the managed ones with why."""
    with db.transaction(settings.DATABASE_URL) as conn:
        site_of(conn, user_id, subscription_id)
        site = rows.site(conn, subscription_id)
        if site is None:  # theirs, but without a live domain: the same answer
            raise NotYourSite()
        mine = rows.records(conn, site["domain_id"])
    domain = site["domain"]
    live, live_error = {}, None
    try:
        zone = PowerDnsClient(provider_config(settings)).find_zone(domain)
        live = live_rrsets(zone) if zone else {}
    except ProviderError:
        live_error = "the zone cannot be read right now"
    served = {(name, rtype): set(v["records"]) for (name, rtype), v in live.items()}
    records, mine_keys = [], set()
    for r in mine:
        fqdn = domain + "." if r["name"] == "@" else f"{r['name']}.{domain}."
        try:
            content, shown = canonical_content(r["type"], r["content"]), human_content(r["type"], r["content"])
        except ValueError:
            content = shown = r["content"]
        mine_keys.add((r["name"], r["type"], content))
        records.append({**r, "content": shown, "live": content in served.get((fqdn, r["type"]), set())})
    managed = []
    for (fqdn, rtype), value in sorted(live.items()):
        name = "@" if fqdn.rstrip(".") == domain else fqdn.rstrip(".")[: -len(domain) - 1]
        for content in value["records"]:
            if (name, rtype, content) in mine_keys:
                continue
            why = MANAGED_WHY.get((name, rtype))
            if (name, rtype) == ("@", "TXT"):
                why = "mail authentication (SPF)"
            managed.append({"name": name, "type": rtype, "content": content, "ttl": value["ttl"],
                            "why": why or "managed by mpanel"})
    managed.append({"name": "@", "type": "SOA", "content": "(serial and timers)", "ttl": None,
                    "why": "the zone's authority record"})
    managed.append({"name": ACME_LABEL, "type": "TXT", "content": "(while a certificate is issued)", "ttl": None,
                    "why": "certificate validation"})
    editable = site["status"] == "active" and site["website_status"] == "active"
    return {"site": site, "records": records, "managed": managed, "live_error": live_error,
            "editable": editable, "types": CUSTOMER_TYPES, "limits": (MIN_TTL, MAX_TTL, DEFAULT_TTL)}
