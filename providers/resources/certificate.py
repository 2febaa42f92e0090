"""TLS certificates from an ACME CA (`Certificate`), validated by DNS-01 through `AcmeClient`
(providers/clients/acme.py), the answers published in the domain's own PowerDNS zone.

Choices the engine relies on:
- create always issues a new certificate: a create that crashed after issuance lost the
  private key with it, so there is nothing to adopt (the orphan simply expires). The one
  exception is an imported account's (`takeover`, providers/core/resource.py): the certificate
  installed on its WHM account for the domain (fetchsslinfo, which gives root the key too) is
  recorded as the stack's when `providers/rules/certificates.takeover_problem` finds nothing
  wrong with it; its key stays where it is on the server, and is kept here as a secret like an
  issued one (the TLS installation compares it, a move installs it elsewhere, delete revokes with
  it). It keeps the key type it came with until its renewal, which issues the wanted one.
- diff replaces a certificate whose names or key type changed, and one inside its renewal
  window (not_after - now < renew_before_days), so every `up` renews what is due.
- read parses the stored certificate (it is the only copy of the key) and reports it gone
  (id "") once the CA says it is revoked; that lookup uses the CA's management API when
  ACME_MANAGEMENT_URL is set (pebble's /cert-status-by-serial); a public CA has no such
  lookup and read then trusts the stored certificate. `renewal_due` reports, by the clock,
  whether the renewal window has been reached.
- delete revokes the certificate (reason cessationOfOperation), signed with the
  certificate's own key so it works whatever account issued it. Already revoked, unknown
  to the CA or otherwise refused for good counts as done: a delete must not block a destroy.
"""
from __future__ import annotations

import logging
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, Resource

from providers.clients.acme import (DEFAULT_KEY_TYPE, KEY_TYPES, NETWORK_TIMEOUT, PROVIDER, AcmeClient, describe,
                                    renewal_due)
from providers.clients.whm import server_id, whm_client_for
from providers.core.config import current
from providers.core.errors import NotFound
from providers.core.inputs import domain_name
from providers.core.resource import TAKEOVER, Input, ProviderAdapter
from providers.core.values import is_unknown
from providers.rules.certificates import DEFAULT_RENEW_BEFORE_DAYS, key_type_of, takeover_problem
from providers.rules.names import bare, domain_problem, is_hostname

log = logging.getLogger(__name__)
INPUT_KEYS = ("domain", "alt_names", "renew_before_days", "key_type")
REPLACING_KEYS = ("domain", "alt_names", "key_type")


# --- the adapter ---------------------------------------------------------------------------------

def _days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or (isinstance(value, float) and not value.is_integer()) or value < 0:
        raise ValueError(f"{value!r} is not a whole number of days >= 0")
    return int(value)


def _key_type(value: Any) -> str:
    if value not in KEY_TYPES:
        raise ValueError(f"{value!r} is not one of {', '.join(KEY_TYPES)}")
    return value


def _certifiable(name: str) -> bool:
    return is_hostname(name.removeprefix("*.")) and "*" not in name.removeprefix("*.")


class CertificateProvider(ProviderAdapter):
    """A certificate for one hosted domain: id = its serial. Never adopted (a lost create lost its key)."""
    KIND = "acme-certificate"  # what the state stores (providers/stored.py)

    PROVIDER = PROVIDER
    INPUTS = (
        Input("domain", domain_name, required=True),
        Input("alt_names"),
        Input("renew_before_days", _days, default=DEFAULT_RENEW_BEFORE_DAYS),
        Input("key_type", _key_type, default=DEFAULT_KEY_TYPE),
        # Where a takeover looks for the installed certificate: the WHM server's id (None: the
        # server of CPANEL_WHM_URL). Read at creation only.
        Input("server", server_id),
        TAKEOVER,
    )
    REPLACES = REPLACING_KEYS
    NOT_DIFFED = ("server", "takeover")
    SECRETS = ("private_key_pem",)
    timeout = NETWORK_TIMEOUT

    def client(self) -> AcmeClient:
        return AcmeClient(current(), self.retry, self.timeout)

    def check_more(self, inputs):
        # alt_names default to www.<domain>, and never repeat the domain.
        domain = inputs.get("domain")
        alt_names = inputs.get("alt_names")
        if alt_names is None:
            alt_names = [f"www.{domain}"] if isinstance(domain, str) and not domain_problem(domain) else []
            if is_unknown(domain):
                alt_names = domain
        inputs["alt_names"] = alt_names
        if is_unknown(alt_names):
            return []
        if not isinstance(alt_names, list) or not all(isinstance(n, str) and _certifiable(n) for n in alt_names):
            return [CheckFailure("alt_names", f"{alt_names!r} is not a list of host names (a leading *. is allowed)")]
        inputs["alt_names"] = [n for n in dict.fromkeys(bare(n) for n in alt_names) if n != domain]
        return []

    def diff(self, id_, olds, news):
        if olds.get("taken_over") and olds.get("key_type") != news.get("key_type"):
            # A taken-over certificate keeps the key it came with: its renewal issues the wanted type.
            olds = {**olds, "key_type": news.get("key_type")}
        return super().diff(id_, olds, news)

    def existing(self, client, props):
        """Only a takeover looks for a certificate already there: the one installed on the WHM
        account, if it can serve on as the stack's (else None, and a new one is issued)."""
        if props.get("takeover") is not True:
            return None
        try:
            installed = whm_client_for(props, self.retry).fetchsslinfo(props["domain"])
        except NotFound:
            return None
        problem = takeover_problem(installed, [props["domain"], *props["alt_names"]],
                                   renew_before_days=props["renew_before_days"])
        if problem:
            log.info("not taking over the certificate of %s (%s): a new one is issued", props["domain"], problem)
            return None
        return installed

    def marked(self, found):
        return False  # a certificate carries no mark upstream: the stack's state is the record

    def take_over(self, client, found, props):
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        key = found["key"]
        inputs = {k: props[k] for k in INPUT_KEYS}
        inputs["key_type"] = key_type_of(load_pem_private_key(key.encode(), password=None))
        cert = {**describe(found["crt"].strip() + "\n" + (found.get("cab") or "")), "private_key_pem": key}
        outs = {**_outputs(inputs, cert), "taken_over": True}
        return outs["serial"], outs

    def more_changes(self, olds, news):
        if not olds.get("not_after"):
            return [], ["certificate_pem"]
        if renewal_due(olds["not_after"], news["renew_before_days"]):
            return [], ["not_after"]  # inside the renewal window: this `up` renews it
        return [], []

    def make(self, client, props):
        inputs = {k: props[k] for k in INPUT_KEYS}
        cert = self.retry.run(lambda: client.issue(inputs["domain"], inputs["alt_names"], inputs["key_type"]))
        outs = _outputs(inputs, cert)
        return outs["serial"], outs

    def observe(self, client, _id, props):
        try:
            described = describe(props.get("fullchain_pem") or props["certificate_pem"])
        except (KeyError, TypeError, ValueError):
            raise NotFound(PROVIDER, "no certificate recorded") from None
        if self.retry.run(lambda: client.revoked_at_ca(described["serial"])):
            raise NotFound(PROVIDER, f"certificate {described['serial']} is revoked")
        return described["serial"], _outputs(props, {**props, **described})

    def change(self, _client, _id, olds, news):
        # Only renew_before_days changes in place; everything else replaces.
        inputs = {k: news[k] for k in INPUT_KEYS}
        if olds.get("taken_over"):
            inputs["key_type"] = olds.get("key_type")
        return _outputs(inputs, olds)

    def remove(self, client, _id, props):
        if props.get("certificate_pem"):
            self.retry.run(lambda: client.revoke(props))


def _outputs(inputs: dict, cert: dict) -> dict:
    outs = {k: inputs.get(k) for k in INPUT_KEYS}
    outs.update({k: cert.get(k) for k in ("serial", "certificate_pem", "chain_pem", "fullchain_pem",
                                           "private_key_pem", "not_after", "issuer")})
    if cert.get("taken_over"):
        outs["taken_over"] = True  # found installed by an import, not issued by this stack
    outs["renewal_due"] = renewal_due(outs["not_after"], outs["renew_before_days"] or 0)
    return outs


class Certificate(Resource):
    """A TLS certificate for domain + alt_names (id: the certificate's serial number in hex)."""

    domain: pulumi.Output[str]
    alt_names: pulumi.Output[list]
    renew_before_days: pulumi.Output[int]
    key_type: pulumi.Output[str]
    serial: pulumi.Output[str]
    certificate_pem: pulumi.Output[str]
    chain_pem: pulumi.Output[str]
    fullchain_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    not_after: pulumi.Output[str]
    issuer: pulumi.Output[str]
    renewal_due: pulumi.Output[bool]

    def __init__(self, name: str, domain, alt_names=None, renew_before_days=None, key_type=None,
                 server: pulumi.Input[str] | None = None, takeover: bool | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        """`takeover`: an imported account's certificate, taken over from its WHM `server` when the
        one installed there can serve on (providers/rules/certificates.py), else issued."""
        super().__init__(CertificateProvider(), name, {
            "domain": domain, "alt_names": alt_names, "renew_before_days": renew_before_days,
            "key_type": key_type, "server": server, "takeover": takeover, "serial": None, "certificate_pem": None, "chain_pem": None,
            "fullchain_pem": None, "private_key_pem": None, "not_after": None, "issuer": None,
            "renewal_due": None,
        }, CertificateProvider.options(opts))
