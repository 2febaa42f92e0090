"""PowerDNS's HTTP API (4.7) as mpanel speaks it: `PowerDnsClient`, and rrsets as the API holds them.

Everything written is whole rrsets (PowerDNS 4.7 has no per-record PATCH). An rrset map is
{(fqdn, TYPE): {"ttl": int, "records": [canonical content, ...sorted]}}; `rrset_list` is the
same as a sorted list of {"name", "type", "ttl", "records"}. `_acme-challenge` rrsets are the
certificate provider's (`set_txt`/`clear_txt`): `live_rrsets` leaves them out, so the zone
provider neither reports nor removes them. Used by the zone and certificate providers
(providers/resources/) and by the panel's DNS editor.
"""
from __future__ import annotations

from typing import Iterable

from providers.core.config import ProviderConfig
from providers.core.errors import NotFound, ProviderError
from providers.core.http import http
from providers.core.retry import DEFAULT_RETRY, RetryPolicy
from providers.rules.dns_records import ACME_LABEL, DEFAULT_TTL, canonical_content, txt_content
from providers.rules.names import bare, canonical

PROVIDER = "powerdns"
CHALLENGE_TTL = 60


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

    def list_zones(self) -> list[dict]:
        """Every zone on the server ({name, account, ...}, no records): one call."""
        return self._call("GET", "/zones").json()

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
