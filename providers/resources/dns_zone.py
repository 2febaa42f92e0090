"""PowerDNS zones (`DnsZone`): one authoritative zone per hosted domain.

The zone carries what a hosting account needs to work from day one: NS, the apex and
`www` A records pointing at the web server (held back while `web_published` is false: a domain
we did not register, whose control the customer has not proven, app/services/domains/proof.py), MX to the mail server, SPF, DMARC and a DKIM
key generated here, plus whatever extra records the customer declared (checked by the DNS
record rules, providers/rules/dns_records.py). Updates send only the rrsets that changed,
through `PowerDnsClient` (providers/clients/powerdns.py).

`_acme-challenge` rrsets belong to the certificate provider (providers/resources/certificate.py),
which publishes DNS-01 answers through `PowerDnsClient.set_txt`/`clear_txt`: the zone provider
neither reports nor removes them, so a refresh or an adopt during an issuance is harmless.
"""
from __future__ import annotations

import base64
import ipaddress
from typing import Any

import pulumi
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pulumi.dynamic import CheckFailure, Resource

from providers.clients.powerdns import (PROVIDER, PowerDnsClient, ZoneExists, live_rrsets, replace, rrset_changes,
                                        rrset_list, rrset_map)
from providers.core.config import current
from providers.core.errors import NotFound, NotOurs
from providers.core.inputs import domain_name
from providers.core.resource import OWNER, TAKEOVER, Input, ProviderAdapter
from providers.core.values import is_unknown
# desired_rrsets lives with the record rules: an import checks a zone by it.
from providers.rules.dns_records import (DEFAULT_DKIM_SELECTOR, absolute, checked_records, desired_rrsets,
                                         human_content, managed_names, record_key, relative, txt_text,
                                         SPF)
from providers.rules.names import bare, canonical, is_hostname, label_ok

INPUT_KEYS = ("domain", "server_ip", "mail_host", "nameservers", "records", "dkim_selector", "owner",
              "web_published")


# --- the zone model ------------------------------------------------------------------------------
# The `rrsets` output is an rrset list as PowerDNS holds it (providers/clients/powerdns.py).

def dkim_keypair() -> tuple[str, str]:
    """(private key PEM, public key base64 DER SubjectPublicKeyInfo) for a new DKIM key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, dkim_public_key(pem)


def dkim_public_key(private_pem: str) -> str:
    # The key is one dkim_keypair made and the stack keeps as a secret: checking its RSA
    # arithmetic (39 ms a load, on every diff and read of the zone) guards against keys from
    # elsewhere, and deriving the public half does not need it.
    key = serialization.load_pem_private_key(private_pem.encode(), password=None,
                                             unsafe_skip_rsa_key_validation=True)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


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
        # With the web held back there is no A record to read the address from: the stored one stands.
        "server_ip": a_records[0] if a_records else ("" if props.get("web_published", True)
                                                    else props.get("server_ip", "")),
        "mail_host": bare(mx[0][1]) if mx else "",
        "nameservers": list(stored_ns) if sorted(map(bare, stored_ns)) == sorted(ns) else sorted(ns),
        "records": sorted(records, key=record_key),
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


# --- check ---------------------------------------------------------------------------------------

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


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("web_published must be true or false")
    return value


# --- the adapter ---------------------------------------------------------------------------------

class DnsZoneProvider(ProviderAdapter):
    """A hosted domain's zone: id = the canonical zone name.

    The zone's `account` is its owner mark (the stack); an existing zone is adopted only when
    it carries ours (a create that crashed before being recorded), whatever its nameservers."""
    KIND = "dns-zone"  # what the state stores (providers/stored.py)

    PROVIDER = PROVIDER
    WHAT = "the zone"
    INPUTS = (
        Input("domain", domain_name, required=True, same=lambda old, new: bare(old or "") == bare(new or "")),
        Input("server_ip", _ipv4, required=True),
        Input("mail_host", _mail_host, default=lambda config: config.MAIL_SERVER_HOST),
        Input("nameservers", _nameservers, default=lambda config: [config.NS1, config.NS2]),
        Input("records", default=lambda _config: []),
        Input("dkim_selector", _selector, default=DEFAULT_DKIM_SELECTOR),
        # The apex and www A records published (True), or held back until control is proven.
        # Missing (state written before this input existed, a caller that does not say) means
        # True, so no default is filled in and no spurious update is seen.
        Input("web_published", _flag, same=lambda old, new: (old is not False) == (new is not False)),
        OWNER,
        TAKEOVER,
    )
    REPLACES = ("domain",)
    NOT_DIFFED = ("takeover",)
    SECRETS = ("dkim_private_key",)
    TAKEOVER_NEEDS_OBJECT = True
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
        normal, problems = checked_records(records, selector)
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

    def marked(self, found):
        return bool(found.get("account"))

    def take_over(self, client, found, props):
        # An imported zone keeps its records and its DKIM key (whose private half, if any, is the
        # mail server's, never seen here): only the zone's `account` becomes our mark.
        if found.get("account") != props["owner"]:
            client.set_account(props["domain"], props["owner"])
        zone = client.get_zone(props["domain"])
        outs = observed(_inputs(props), zone)
        # "" and not None: an output left out is "not known yet" to a preview, and the mail domain
        # that takes this key would look changed on every preview.
        return canonical(zone["name"]), {**outs, "owner": props["owner"], "dkim_private_key": "", "taken_over": True}

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
        private_pem = olds.get("dkim_private_key")
        # A zone taken over keeps the DKIM key it came with (its private half is unknown here).
        public = dkim_public_key(private_pem) if private_pem else olds.get("dkim_public_key")
        if not public:
            private_pem, public = dkim_keypair()
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
        outs = _outputs(inputs, private_pem, client.get_zone(inputs["domain"]), public)
        return {**outs, "taken_over": True} if olds.get("taken_over") else outs

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
    # web_published is missing from state written before it existed (it meant True).
    return {**{k: props[k] for k in INPUT_KEYS if k != "web_published"},
            "web_published": props.get("web_published", True) is not False}


def _rrset_changes_for(desired: dict) -> list[dict]:
    return [replace(name, rtype, v["ttl"], [{"content": c, "disabled": False} for c in v["records"]])
            for (name, rtype), v in sorted(desired.items())]


def _outputs(inputs: dict, private_pem: str | None, zone: dict, public: str | None = None) -> dict:
    return {**inputs, "dkim_public_key": dkim_public_key(private_pem) if private_pem else public,
            "dkim_private_key": private_pem,
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
    web_published: pulumi.Output[bool]

    def __init__(self, name: str, domain, server_ip, mail_host=None, nameservers=None, records=None,
                 dkim_selector=None, *, owner, web_published=True, takeover: bool | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        """`owner`: the stack (e.g. "sub-42"), written as the zone's `account`; `web_published`:
        the apex and www A records are published (else held back until control is proven);
        `takeover`: an imported zone, taken over as it is (providers/core/resource.py)."""
        super().__init__(DnsZoneProvider(), name, {
            "domain": domain, "server_ip": server_ip, "mail_host": mail_host, "nameservers": nameservers,
            "records": records, "dkim_selector": dkim_selector, "owner": owner, "web_published": web_published,
            "takeover": takeover,
            "dkim_public_key": None, "dkim_private_key": None, "serial": None, "rrsets": None,
        }, DnsZoneProvider.options(opts))
