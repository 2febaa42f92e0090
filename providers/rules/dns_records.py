"""DNS record content rules: the one place that says what a record of a hosted zone may hold.

Names relative to a zone, TXT character-strings, each record type's content in one canonical
form (so a diff compares like with like), and the rules a customer's extra records must pass
(content per type, relative names, TTL bounds, CNAME exclusivity, no record at a name/type the
zone manages). Pure functions: the zone provider (providers/resources/dns_zone.py), the
PowerDNS client and the panel's DNS editor (which checks what a customer types with these
very rules) all apply them. Imports nothing of the project but the domain-name rules.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from providers.rules.names import bare, canonical, is_hostname, record_label_ok

# Extra customer records may use these; SOA stays the server's, apex NS is `nameservers`.
RECORD_TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "SRV", "TXT")
DEFAULT_TTL = 3600
MIN_TTL, MAX_TTL = 60, 604800
DEFAULT_DKIM_SELECTOR = "mpanel"
# What the zone writes itself (providers/resources/dns_zone.py), spelled here so that an import's
# checks (app/services/operators/imports.py) compare with the very same values.
SPF = "v=spf1 a mx -all"
MX_PRIORITY = 10


def dmarc_text(domain: str) -> str:
    return f"v=DMARC1; p=quarantine; rua=mailto:postmaster@{bare(domain)}"


# Challenge answers of the certificate provider (DNS-01): never a customer's, never the zone's.
ACME_LABEL = "_acme-challenge"


# --- names ---------------------------------------------------------------------------------

def absolute(relative_name: str, zone: str) -> str:
    return canonical(zone) if relative_name == "@" else canonical(f"{relative_name}.{bare(zone)}")


def relative(fqdn: str, zone: str) -> str:
    fqdn, zone = canonical(fqdn), canonical(zone)
    return "@" if fqdn == zone else fqdn[: -len(zone) - 1]


# --- TXT quoting -----------------------------------------------------------------------------

def txt_content(text: str) -> str:
    """Text to TXT record content: quoted character-strings of at most 255 bytes each."""
    data = text.encode()
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    return " ".join('"' + "".join(_escape(b) for b in chunk) + '"' for chunk in chunks)


def _escape(byte: int) -> str:
    if byte in (0x22, 0x5C):
        return "\\" + chr(byte)
    return chr(byte) if 0x20 <= byte < 0x7F else f"\\{byte:03d}"


def txt_text(content: str) -> str:
    """TXT record content back to its text: the character-strings unquoted and joined."""
    content = content.strip()
    if not content.startswith('"'):
        return content
    out, i, quoted = bytearray(), 0, False
    while i < len(content):
        c = content[i]
        if c == '"':
            quoted = not quoted
        elif quoted and c == "\\" and i + 1 < len(content):
            if content[i + 1: i + 4].isdigit() and len(content[i + 1: i + 4]) == 3:
                out.append(int(content[i + 1: i + 4]) & 0xFF)
                i += 3
            else:
                out.extend(content[i + 1].encode())
                i += 1
        elif quoted:
            out.extend(c.encode())
        i += 1
    return out.decode("utf-8", errors="replace")


# --- record content ----------------------------------------------------------------------------

def canonical_content(rtype: str, content: str) -> str:
    """The one form used to send, store and compare a record's content (raises ValueError)."""
    content = str(content).strip()
    if rtype == "A":
        return str(ipaddress.IPv4Address(content))
    if rtype == "AAAA":
        return str(ipaddress.IPv6Address(content))
    if rtype in ("CNAME", "NS"):
        return _target(content)
    if rtype == "MX":
        prio, host = _fields(content, 2)
        return f"{_uint(prio, 65535)} {_target(host)}"
    if rtype == "SRV":
        prio, weight, port, target = _fields(content, 4)
        target = "." if target == "." else _target(target)
        return f"{_uint(prio, 65535)} {_uint(weight, 65535)} {_uint(port, 65535)} {target}"
    if rtype == "CAA":
        parts = content.split(None, 2)
        if len(parts) != 3:
            raise ValueError("CAA content is 'flags tag value', e.g. 0 issue \"letsencrypt.org\"")
        flags, tag, value = parts
        if not re.match(r"^[a-z0-9]+$", tag.lower()):
            raise ValueError(f"bad CAA tag {tag!r}")
        value = txt_text(value) if value.startswith('"') else value
        return f'{_uint(flags, 255)} {tag.lower()} "{value}"'
    if rtype == "TXT":
        return txt_content(txt_text(content))
    raise ValueError(f"record type {rtype} is not supported (use one of {', '.join(RECORD_TYPES)})")


def _fields(content: str, n: int) -> list[str]:
    parts = content.split()
    if len(parts) != n:
        raise ValueError(f"expected {n} fields in {content!r}")
    return parts


def _uint(value: str, top: int) -> int:
    if not value.isdigit() or int(value) > top:
        raise ValueError(f"{value!r} is not a number from 0 to {top}")
    return int(value)


def _target(host: str) -> str:
    if not is_hostname(host):
        raise ValueError(f"{host!r} is not a host name")
    return canonical(host)


def human_content(rtype: str, content: str) -> str:
    """What a customer record's `content` looks like in inputs and outputs (TXT unquoted)."""
    return txt_text(content) if rtype == "TXT" else canonical_content(rtype, content)


# --- the zone a hosted domain gets ------------------------------------------------------------

def dkim_text(public_key: str) -> str:
    return f"v=DKIM1; k=rsa; p={public_key}"


def desired_rrsets(inputs: dict, public_key: str) -> dict:
    """{(fqdn, type): {ttl, records}} the zone provider writes for its inputs (domain, nameservers,
    server_ip, mail_host, dkim_selector, records, web_published) and DKIM public key: also what an import checks
    an existing zone against (app/services/operators/imports.py), so the two can never disagree."""
    zone = inputs["domain"]
    wanted: dict[tuple[str, str], dict] = {}

    def put(rel: str, rtype: str, contents: list[str], ttl: int = DEFAULT_TTL):
        entry = wanted.setdefault((absolute(rel, zone), rtype), {"ttl": int(ttl), "records": []})
        # A customer's apex TXT joins the SPF rrset, and DNS keeps one ttl per rrset: theirs.
        entry["ttl"] = int(ttl)
        entry["records"] = sorted(set(entry["records"]) | {canonical_content(rtype, c) for c in contents})

    put("@", "NS", list(inputs["nameservers"]))
    if inputs.get("web_published", True):
        # Held back until control is proven: our nameservers must not send anyone who asks them
        # (a resolver of ours, a CA, a tenant's script) to a site for a domain that is not its owner's.
        put("@", "A", [inputs["server_ip"]])
        put("www", "A", [inputs["server_ip"]])
    put("@", "MX", [f"{MX_PRIORITY} {inputs['mail_host']}"])
    put("@", "TXT", [SPF])
    put("_dmarc", "TXT", [dmarc_text(zone)])
    put(f"{inputs['dkim_selector']}._domainkey", "TXT", [dkim_text(public_key)])
    for record in inputs.get("records") or []:
        put(record["name"], record["type"], [record["content"]], record["ttl"])
    return wanted


# --- customer records ------------------------------------------------------------------------

def managed_names(inputs: dict) -> dict[tuple[str, str], str]:
    """(relative name, type) pairs the zone itself owns, with the input that drives each."""
    selector = inputs.get("dkim_selector") or DEFAULT_DKIM_SELECTOR
    return {("@", "NS"): "nameservers", ("@", "A"): "server_ip", ("www", "A"): "server_ip",
            ("@", "MX"): "mail_host", ("_dmarc", "TXT"): "domain",
            (f"{selector}._domainkey", "TXT"): "dkim_selector"}


def record_key(record: dict) -> tuple:
    return record["name"], record["type"], record["content"]


def checked_records(records: Any, selector: str) -> tuple[list[dict], list[str]]:
    """A zone's customer records in the form the zone keeps them (sorted, duplicates merged),
    and what is wrong with them, one line per problem."""
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
        normal[record_key(record)] = record
    ordered = sorted(normal.values(), key=record_key)
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
    if (name, rtype) == ("@", "TXT") and _looks_like_spf(content):
        raise ValueError("the SPF record is managed by the zone")
    return {"name": name, "type": rtype, "content": content, "ttl": int(ttl)}


def _looks_like_spf(text: str) -> bool:
    # Judged on the text as a resolver would see it, and also with stray quotes or spaces in
    # front: "\"v=spf1 ..." must not slip past by being one quote away from SPF.
    return text.lstrip(" \t\"'").lower().startswith("v=spf1")


def checked_record(record: dict, selector: str = DEFAULT_DKIM_SELECTOR) -> dict:
    """One customer record ({name, type, content, ttl}, name relative to the zone) in the form
    the zone keeps it, or ValueError saying what is wrong."""
    return _record(record, selector)


def stored_record(record: dict, selector: str = DEFAULT_DKIM_SELECTOR) -> dict:
    """One customer record in the form the panel stores it: content canonical (TXT quoted, so it
    is unquoted exactly once, by the zone), or ValueError saying what the zone would refuse.
    Checking what this returns gives the same record again: stored once, accepted at every `up`."""
    checked = _record(record, selector)
    stored = dict(checked, content=canonical_content(checked["type"], checked["content"]))
    if _record(stored, selector) != checked:  # never expected: the rule would not be applied once
        raise ValueError(f"{checked['type']} content {record.get('content')!r} does not keep one meaning")
    return stored


def publishable_records(records: list[dict], selector: str = DEFAULT_DKIM_SELECTOR) \
        -> tuple[list[dict], list[tuple[dict, str]]]:
    """A zone's stored customer records split into those the zone takes and those it would refuse,
    each refused one with the reason: records are taken in order, and one that would break the
    set (a CNAME beside others, a second ttl in an rrset) is refused rather than the set."""
    taken: list[dict] = []
    refused: list[tuple[dict, str]] = []
    for record in records:
        try:
            checked = _record(record, selector)
        except ValueError as exc:
            refused.append((record, str(exc)))
            continue
        problems = _check_rrset_rules(taken + [checked], selector)
        if problems:
            refused.append((record, problems[0]))
            continue
        taken.append(checked)
    return [r for r in records if not any(r is bad for bad, _ in refused)], refused


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
