"""PowerDNS zones: one authoritative zone per hosted domain, through the HTTP API (4.7).

The zone carries what a hosting account needs to work from day one: NS, the apex and
`www` A records pointing at the web server, MX to the mail server, SPF, DMARC and a DKIM
key generated here, plus whatever extra records the customer declared. Everything the
provider writes is whole rrsets (PowerDNS 4.7 has no per-record PATCH), and updates send
only the rrsets that changed.

`_acme-challenge` rrsets belong to the certificate provider (providers/acme.py), which
publishes DNS-01 answers through `PowerDnsClient.set_txt`/`clear_txt`: the zone provider
neither reports nor removes them, so a refresh or an adopt during an issuance is harmless.
"""
from __future__ import annotations

import base64
import ipaddress
from typing import Any, Iterable

import pulumi
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pulumi.dynamic import CheckFailure, Resource

from providers.core.config import ProviderConfig, current
from providers.core.dns import (RECORD_TYPES, absolute, canonical_content, human_content, relative,  # noqa: F401
                                txt_content, txt_text)
from providers.core.errors import NotFound, NotOurs, ProviderError
from providers.core.http import http
from providers.core.names import bare, canonical, domain_problem, is_hostname, label_ok, record_label_ok
from providers.core.resource import OWNER, Input, ProviderAdapter
from providers.core.retry import DEFAULT_RETRY, RetryPolicy
from providers.core.values import is_unknown

PROVIDER = "powerdns"
DEFAULT_TTL = 3600
CHALLENGE_TTL = 60
MIN_TTL, MAX_TTL = 60, 604800
DEFAULT_DKIM_SELECTOR = "mpanel"
SPF = "v=spf1 a mx -all"
MX_PRIORITY = 10
ACME_LABEL = "_acme-challenge"
INPUT_KEYS = ("domain", "server_ip", "mail_host", "nameservers", "records", "dkim_selector", "owner")


# --- the client ----------------------------------------------------------------------------------

class ZoneExists(ProviderError):
    """POST /zones answered 409: the zone is already on the server."""


class PowerDnsClient:
    """The PowerDNS HTTP API at the configured endpoint."""

    def __init__(self, config: ProviderConfig, retry: RetryPolicy = DEFAULT_RETRY, timeout: float = 15.0):
        if not config.POWERDNS_API_URL:
            raise ProviderError(PROVIDER, "POWERDNS_API_URL is not configured")
        self.base_url = f"{config.POWERDNS_API_URL.rstrip('/')}/api/v1/servers/localhost"
        self._headers = {"X-API-Key": config.POWERDNS_API_KEY, "Accept": "application/json"}
        self.retry = retry
        self.timeout = timeout

    def get_zone(self, zone: str) -> dict:
        return self._call("GET", f"/zones/{canonical(zone)}").json()

    def find_zone(self, zone: str) -> dict | None:
        try:
            return self.get_zone(zone)
        except NotFound:
            return None

    def create_zone(self, zone: str, rrsets: list[dict], *, account: str, kind: str = "Native") -> dict:
        """`account`: the zone's owner mark (the stack that made it)."""
        # NS goes in rrsets: PowerDNS refuses `nameservers` mixed with an apex NS rrset.
        body = {"name": canonical(zone), "kind": kind, "soa_edit_api": "DEFAULT", "nameservers": [],
                "account": account, "rrsets": rrsets}
        return self._call("POST", "/zones", json=body).json()

    def set_account(self, zone: str, account: str) -> None:
        self._call("PUT", f"/zones/{canonical(zone)}", json={"account": account})

    def patch_rrsets(self, zone: str, changes: list[dict]) -> None:
        """Apply whole-rrset REPLACE/DELETE changes in one transaction (all or nothing)."""
        if changes:
            self._call("PATCH", f"/zones/{canonical(zone)}", json={"rrsets": changes})

    def delete_zone(self, zone: str) -> None:
        self._call("DELETE", f"/zones/{canonical(zone)}")

    def zone_for(self, name: str) -> str | None:
        """The zone on this server that holds `name` (closest enclosing zone), or None."""
        labels = bare(name).split(".")
        for i in range(len(labels) - 1):
            candidate = canonical(".".join(labels[i:]))
            if self.find_zone(candidate) is not None:
                return candidate
        return None

    def set_txt(self, zone: str, fqdn: str, values: Iterable[str], ttl: int = CHALLENGE_TTL) -> None:
        """Make `values` the whole TXT rrset at `fqdn` (every value for a name in one rrset)."""
        records = [{"content": txt_content(v), "disabled": False} for v in dict.fromkeys(values)]
        self.patch_rrsets(zone, [replace(fqdn, "TXT", ttl, records)])

    def clear_txt(self, zone: str, fqdn: str) -> None:
        try:
            self.patch_rrsets(zone, [remove(fqdn, "TXT")])
        except NotFound:
            pass

    # -- transport -------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs):
        return self.retry.run(lambda: self._once(method, path, **kwargs))

    def _once(self, method: str, path: str, **kwargs):
        response = http(PROVIDER, method, self.base_url + path, headers=self._headers, timeout=self.timeout,
                        **kwargs)
        if response.ok:
            return response
        what = f"{method} {path}"
        detail = _error_text(response)
        status = response.status_code
        if status == 404:
            raise NotFound(PROVIDER, f"{what}: not found", status=status)
        if status == 409:
            raise ZoneExists(PROVIDER, f"{what}: {detail or 'already exists'}", status=status)
        if status in (401, 403):
            raise ProviderError(PROVIDER, f"{what}: the API refused our key ({detail or 'unauthorized'}); "
                                "check POWERDNS_API_KEY", status=status)
        raise ProviderError(PROVIDER, f"{what} rejected: {detail or response.reason}", status=status)


def _error_text(response) -> str:
    try:
        return str(response.json().get("error", "")).strip()
    except (ValueError, AttributeError):
        return response.text.strip()[:200]


def replace(name: str, rtype: str, ttl: int, records: list[dict]) -> dict:
    return {"name": canonical(name), "type": rtype, "ttl": ttl, "changetype": "REPLACE", "records": records}


def remove(name: str, rtype: str) -> dict:
    return {"name": canonical(name), "type": rtype, "changetype": "DELETE", "records": []}


# --- the zone model ------------------------------------------------------------------------------
# An rrset map is {(fqdn, TYPE): {"ttl": int, "records": [canonical content, ...sorted]}}; the
# `rrsets` output is the same as a sorted list of {"name", "type", "ttl", "records"}.

def dkim_keypair() -> tuple[str, str]:
    """(private key PEM, public key base64 DER SubjectPublicKeyInfo) for a new DKIM key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, dkim_public_key(pem)


def dkim_public_key(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def dkim_text(public_key: str) -> str:
    return f"v=DKIM1; k=rsa; p={public_key}"


def dmarc_text(domain: str) -> str:
    return f"v=DMARC1; p=quarantine; rua=mailto:postmaster@{bare(domain)}"


def managed_names(inputs: dict) -> dict[tuple[str, str], str]:
    """(relative name, type) pairs the zone itself owns, with the input that drives each."""
    selector = inputs.get("dkim_selector") or DEFAULT_DKIM_SELECTOR
    return {("@", "NS"): "nameservers", ("@", "A"): "server_ip", ("www", "A"): "server_ip",
            ("@", "MX"): "mail_host", ("_dmarc", "TXT"): "domain",
            (f"{selector}._domainkey", "TXT"): "dkim_selector"}


def desired_rrsets(inputs: dict, public_key: str) -> dict:
    zone = inputs["domain"]
    wanted: dict[tuple[str, str], dict] = {}

    def put(rel: str, rtype: str, contents: list[str], ttl: int = DEFAULT_TTL):
        entry = wanted.setdefault((absolute(rel, zone), rtype), {"ttl": int(ttl), "records": []})
        # A customer's apex TXT joins the SPF rrset, and DNS keeps one ttl per rrset: theirs.
        entry["ttl"] = int(ttl)
        entry["records"] = sorted(set(entry["records"]) | {canonical_content(rtype, c) for c in contents})

    put("@", "NS", list(inputs["nameservers"]))
    put("@", "A", [inputs["server_ip"]])
    put("www", "A", [inputs["server_ip"]])
    put("@", "MX", [f"{MX_PRIORITY} {inputs['mail_host']}"])
    put("@", "TXT", [SPF])
    put("_dmarc", "TXT", [dmarc_text(zone)])
    put(f"{inputs['dkim_selector']}._domainkey", "TXT", [dkim_text(public_key)])
    for record in inputs.get("records") or []:
        put(record["name"], record["type"], [record["content"]], record["ttl"])
    return wanted


def live_rrsets(zone_json: dict) -> dict:
    live = {}
    for rrset in zone_json.get("rrsets", []):
        rtype, name = rrset["type"], canonical(rrset["name"])
        if rtype == "SOA" or name.startswith(ACME_LABEL + "."):
            continue
        contents = []
        for record in rrset.get("records", []):
            if record.get("disabled"):
                continue
            try:
                contents.append(canonical_content(rtype, record["content"]))
            except ValueError:
                contents.append(record["content"])  # foreign content: kept verbatim, still compared
        if contents:
            live[(name, rtype)] = {"ttl": int(rrset.get("ttl", DEFAULT_TTL)), "records": sorted(set(contents))}
    return live


def rrset_list(rrsets: dict) -> list[dict]:
    return [{"name": name, "type": rtype, "ttl": v["ttl"], "records": list(v["records"])}
            for (name, rtype), v in sorted(rrsets.items())]


def rrset_map(rrsets: list[dict] | None) -> dict:
    return {(canonical(r["name"]), r["type"]): {"ttl": int(r["ttl"]), "records": sorted(r["records"])}
            for r in rrsets or []}


def rrset_changes(current: dict, desired: dict) -> list[dict]:
    """Only what differs: REPLACE changed or new rrsets, DELETE the ones no longer wanted."""
    changes = []
    for key, want in sorted(desired.items()):
        have = current.get(key)
        if have is None or have["ttl"] != want["ttl"] or _folded(have["records"]) != _folded(want["records"]):
            records = [{"content": c, "disabled": False} for c in want["records"]]
            changes.append(replace(key[0], key[1], want["ttl"], records))
    for key in sorted(set(current) - set(desired)):
        changes.append(remove(*key))
    return changes


def _folded(contents: list[str]) -> set[str]:
    # PowerDNS keeps some names as written (SRV targets): compare names case-insensitively,
    # TXT exactly.
    return {c if c.startswith('"') else c.lower() for c in contents}


def observed(props: dict, zone_json: dict) -> dict:
    """Stored outputs updated with what the live zone says."""
    domain = bare(zone_json["name"])
    live = live_rrsets(zone_json)
    apex = canonical(domain)
    selector = props.get("dkim_selector") or DEFAULT_DKIM_SELECTOR
    managed = {(absolute(rel, domain), t) for rel, t in managed_names({"dkim_selector": selector})}

    a_records = live.get((apex, "A"), {}).get("records", [])
    mx = sorted((int(c.split()[0]), c.split()[1]) for c in live.get((apex, "MX"), {}).get("records", [])
                if len(c.split()) == 2 and c.split()[0].isdigit())
    ns = [bare(c) for c in live.get((apex, "NS"), {}).get("records", [])]
    stored_ns = props.get("nameservers") or []
    dkim = [txt_text(c) for c in live.get((absolute(f"{selector}._domainkey", domain), "TXT"), {})
            .get("records", [])]
    public = next((t.split("p=", 1)[1].strip() for t in dkim if "p=" in t), "")

    records = []
    for (name, rtype), rrset in sorted(live.items()):
        for content in rrset["records"]:
            if (name, rtype) in managed:
                continue
            if (name, rtype) == (apex, "TXT") and txt_text(content) == SPF:
                continue
            records.append({"name": relative(name, domain), "type": rtype,
                            "content": _shown(rtype, content), "ttl": rrset["ttl"]})
    return {
        **props,
        "domain": domain,
        "server_ip": a_records[0] if a_records else "",
        "mail_host": bare(mx[0][1]) if mx else "",
        "nameservers": list(stored_ns) if sorted(map(bare, stored_ns)) == sorted(ns) else sorted(ns),
        "records": sorted(records, key=_record_key),
        "dkim_public_key": public,
        "serial": int(zone_json.get("serial") or 0),
        "rrsets": rrset_list(live),
        "owner": zone_json.get("account") or None,
    }


def _shown(rtype: str, content: str) -> str:
    try:
        return human_content(rtype, content)
    except ValueError:
        return content


def _record_key(record: dict) -> tuple:
    return record["name"], record["type"], record["content"]


# --- check ---------------------------------------------------------------------------------------

def _domain(value: Any) -> str:
    problem = domain_problem(value)
    if problem:
        raise ValueError(problem)
    return bare(value)


def _ipv4(value: Any) -> str:
    try:
        return str(ipaddress.IPv4Address(str(value).strip()))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None


def _mail_host(value: Any) -> str:
    if not isinstance(value, str) or not is_hostname(value):
        raise ValueError(f"{value!r} is not a host name (set mail_host or MAIL_SERVER_HOST)")
    return bare(value)


def _nameservers(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(n, str) and is_hostname(n) for n in value):
        raise ValueError(f"{value!r} is not a list of host names")
    return list(dict.fromkeys(bare(n) for n in value))


def _selector(value: Any) -> str:
    if not isinstance(value, str) or not all(label_ok(l) for l in value.lower().split(".")):
        raise ValueError(f"{value!r} is not a DNS label")
    return value.lower()


def _check_records(records: Any, selector: str) -> tuple[list[dict], list[str]]:
    if not isinstance(records, list):
        return [], ["records must be a list of {name, type, content, ttl}"]
    normal: dict[tuple, dict] = {}
    problems = []
    for i, record in enumerate(records):
        try:
            record = _record(record, selector)
        except ValueError as exc:
            problems.append(f"records[{i}]: {exc}")
            continue
        normal[_record_key(record)] = record
    ordered = sorted(normal.values(), key=_record_key)
    return ordered, problems + _check_rrset_rules(ordered, selector)


def _record(record: Any, selector: str) -> dict:
    if not isinstance(record, dict):
        raise ValueError("not an object with name, type, content, ttl")
    rtype = str(record.get("type", "")).strip().upper()
    raw_name = str(record.get("name") or "").strip().lower()
    name = raw_name.rstrip(".") or "@"
    ttl = DEFAULT_TTL if record.get("ttl") is None else record["ttl"]
    if rtype not in RECORD_TYPES:
        raise ValueError(f"type {record.get('type')!r} is not one of {', '.join(RECORD_TYPES)}")
    if raw_name.endswith(".") or (name != "@" and not all(record_label_ok(l) for l in name.split("."))) \
            or "*" in name[1:]:
        raise ValueError(f"name {record.get('name')!r} is not a relative name ('@' for the apex)")
    if name.split(".")[0] == ACME_LABEL:
        raise ValueError(f"name {name!r}: {ACME_LABEL} names belong to certificate validation")
    # Numbers cross the engine as floats: 300.0 is a fine ttl.
    if isinstance(ttl, float) and ttl.is_integer():
        ttl = int(ttl)
    if isinstance(ttl, bool) or not str(ttl).isdigit() or not MIN_TTL <= int(ttl) <= MAX_TTL:
        raise ValueError(f"ttl {ttl!r} must be a whole number of seconds from {MIN_TTL} to {MAX_TTL}")
    try:
        content = human_content(rtype, str(record.get("content", "")))
    except ValueError as exc:
        raise ValueError(f"{rtype} content {record.get('content')!r}: {exc}") from None
    owner = managed_names({"dkim_selector": selector}).get((name, rtype))
    if owner:
        raise ValueError(f"the {name} {rtype} rrset is managed by the zone (set `{owner}` instead)")
    if (name, rtype) == ("@", "TXT") and content.startswith("v=spf1"):
        raise ValueError("the SPF record is managed by the zone")
    return {"name": name, "type": rtype, "content": content, "ttl": int(ttl)}


def checked_record(record: dict, selector: str = DEFAULT_DKIM_SELECTOR) -> dict:
    """One customer record ({name, type, content, ttl}, name relative to the zone) in the form
    the zone keeps it, or ValueError saying what is wrong: the panel checks what a customer
    types with the very rules this provider applies."""
    return _record(record, selector)


def record_set_problems(records: list[dict], selector: str = DEFAULT_DKIM_SELECTOR) -> list[str]:
    """What is wrong with a zone's customer records together (CNAME exclusivity, one ttl per rrset)."""
    return _check_rrset_rules(records, selector)


def _check_rrset_rules(records: list[dict], selector: str) -> list[str]:
    problems = []
    taken = {name for name, _ in managed_names({"dkim_selector": selector})}
    for name in sorted({r["name"] for r in records if r["type"] == "CNAME"}):
        if name in taken or len([r for r in records if r["name"] == name]) > 1:
            problems.append(f"a CNAME at {name} cannot stand beside other records at that name")
    ttls: dict[tuple[str, str], set[int]] = {}
    for r in records:
        ttls.setdefault((r["name"], r["type"]), set()).add(r["ttl"])
    for (name, rtype), values in sorted(ttls.items()):
        if len(values) > 1:
            problems.append(f"the {name} {rtype} records must share one ttl (DNS keeps one per rrset)")
    return problems


# --- the adapter ---------------------------------------------------------------------------------

class DnsZoneProvider(ProviderAdapter):
    """A hosted domain's zone: id = the canonical zone name.

    The zone's `account` is its owner mark (the stack); an existing zone is adopted only when
    it carries ours (a create that crashed before being recorded), whatever its nameservers."""
    KIND = "dns-zone"  # what the state stores (providers/stored.py)

    PROVIDER = PROVIDER
    WHAT = "the zone"
    INPUTS = (
        Input("domain", _domain, required=True, same=lambda old, new: bare(old or "") == bare(new or "")),
        Input("server_ip", _ipv4, required=True),
        Input("mail_host", _mail_host, default=lambda config: config.MAIL_SERVER_HOST),
        Input("nameservers", _nameservers, default=lambda config: [config.NS1, config.NS2]),
        Input("records", default=lambda _config: []),
        Input("dkim_selector", _selector, default=DEFAULT_DKIM_SELECTOR),
        OWNER,
    )
    REPLACES = ("domain",)
    SECRETS = ("dkim_private_key",)
    timeout = 15.0

    def named(self, props):
        return f"the zone {canonical(props.get('domain') or '?')}"

    def client(self) -> PowerDnsClient:
        return PowerDnsClient(current(), self.retry, self.timeout)

    def check_more(self, inputs):
        # The records' rules depend on the selector (its name is the zone's own).
        selector = inputs.get("dkim_selector")
        records = inputs.get("records")
        if is_unknown(records) or is_unknown(selector):
            return []
        normal, problems = _check_records(records, selector)
        if not problems:
            inputs["records"] = normal
        return [CheckFailure("records", p) for p in problems]

    def more_changes(self, olds, news):
        # The zone drifted (seen by refresh) when its rrsets are not what the inputs make.
        drifted = rrset_map(olds.get("rrsets")) != desired_rrsets(news, self._public_key(olds))
        return (["rrsets"] if drifted else []), []

    def existing(self, client, props):
        return client.find_zone(props["domain"])

    def owns(self, found, props):
        return (found.get("account") or "") == props["owner"]

    def not_ours(self, found, props):
        holder = found.get("account")
        whose = f"belongs to the stack {holder}" if holder else "carries no mpanel owner mark (account is empty)"
        return NotOurs(PROVIDER, f"zone {canonical(props['domain'])} already exists on the DNS server and {whose}, "
                                 f"not to the stack {props['owner']}; refusing to adopt it (its records are left "
                                 "untouched)")

    def adopt(self, client, found, props):
        # A create that crashed before reaching the state, or a retry after a lost answer.
        inputs = _inputs(props)
        private_pem, public = dkim_keypair()
        client.patch_rrsets(inputs["domain"], rrset_changes(live_rrsets(found), desired_rrsets(inputs, public)))
        return canonical(inputs["domain"]), _outputs(inputs, private_pem, client.get_zone(inputs["domain"]))

    def make(self, client, props):
        inputs = _inputs(props)
        private_pem, public = dkim_keypair()
        try:
            zone = client.create_zone(inputs["domain"], _rrset_changes_for(desired_rrsets(inputs, public)),
                                      account=props["owner"])
        except ZoneExists:
            # Made by someone between our lookup and our create: judged like any existing zone.
            found = client.get_zone(inputs["domain"])
            if not self.owns(found, props):
                raise self.not_ours(found, props) from None
            return self.adopt(client, found, props)
        return canonical(inputs["domain"]), _outputs(inputs, private_pem, zone)

    def observe(self, client, id_, props):
        name = id_ or props.get("domain")
        if not name:
            raise NotFound(PROVIDER, "no zone recorded")
        zone = client.get_zone(name)
        return canonical(zone["name"]), observed(props, zone)

    def change(self, client, _id, olds, news):
        inputs = _inputs(news)
        private_pem = olds.get("dkim_private_key") or dkim_keypair()[0]
        public = dkim_public_key(private_pem)
        desired = desired_rrsets(inputs, public)
        current_rrsets = rrset_map(olds["rrsets"]) if olds.get("rrsets") else \
            live_rrsets(client.get_zone(inputs["domain"]))
        try:
            if olds.get("owner") != news["owner"]:
                self._mark(client, inputs["domain"], news)
            client.patch_rrsets(inputs["domain"], rrset_changes(current_rrsets, desired))
        except NotFound:
            # Deleted behind our back since the last refresh: make it again.
            client.create_zone(inputs["domain"], _rrset_changes_for(desired), account=news["owner"])
        return _outputs(inputs, private_pem, client.get_zone(inputs["domain"]))

    def remove(self, client, id_, props):
        client.delete_zone(id_ or props["domain"])

    def _mark(self, client: PowerDnsClient, domain: str, news: dict) -> None:
        """The zone in our state without a mark (made before marks existed) gets ours; one marked
        for another stack since the last refresh is never taken."""
        zone = client.get_zone(domain)
        if (zone.get("account") or news["owner"]) != news["owner"]:
            raise self.not_ours(zone, news)
        client.set_account(domain, news["owner"])

    @staticmethod
    def _public_key(olds: dict) -> str:
        private_pem = olds.get("dkim_private_key")
        return dkim_public_key(private_pem) if private_pem else olds.get("dkim_public_key", "")


def _inputs(props: dict) -> dict:
    return {k: props[k] for k in INPUT_KEYS}


def _rrset_changes_for(desired: dict) -> list[dict]:
    return [replace(name, rtype, v["ttl"], [{"content": c, "disabled": False} for c in v["records"]])
            for (name, rtype), v in sorted(desired.items())]


def _outputs(inputs: dict, private_pem: str, zone: dict) -> dict:
    return {**inputs, "dkim_public_key": dkim_public_key(private_pem), "dkim_private_key": private_pem,
            "serial": int(zone.get("serial") or 0), "rrsets": rrset_list(live_rrsets(zone))}


class DnsZone(Resource):
    """The zone of one hosted domain (id: the canonical zone name, e.g. "example.com.")."""

    domain: pulumi.Output[str]
    server_ip: pulumi.Output[str]
    mail_host: pulumi.Output[str]
    nameservers: pulumi.Output[list]
    records: pulumi.Output[list]
    dkim_selector: pulumi.Output[str]
    dkim_public_key: pulumi.Output[str]
    dkim_private_key: pulumi.Output[str]
    serial: pulumi.Output[int]
    rrsets: pulumi.Output[list]

    owner: pulumi.Output[str]

    def __init__(self, name: str, domain, server_ip, mail_host=None, nameservers=None, records=None,
                 dkim_selector=None, *, owner, opts: pulumi.ResourceOptions | None = None):
        """`owner`: the stack (e.g. "sub-42"), written as the zone's `account`."""
        super().__init__(DnsZoneProvider(), name, {
            "domain": domain, "server_ip": server_ip, "mail_host": mail_host, "nameservers": nameservers,
            "records": records, "dkim_selector": dkim_selector, "owner": owner,
            "dkim_public_key": None, "dkim_private_key": None, "serial": None, "rrsets": None,
        }, DnsZoneProvider.options(opts))
