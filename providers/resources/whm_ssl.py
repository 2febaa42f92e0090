"""A certificate installed on a WHM account's domain, with its HTTPS redirect (`WhmSsl`; WHM API 1's
installssl / fetchsslinfo): the TLS half of WHM, through the same client as the account's
(providers/clients/whm.py).

An imported account's (`takeover`, providers/core/resource.py) keeps the certificate installed
on it when that is the one the stack's certificate took over: nothing is installed again, and
the HTTPS redirect is set only if it is not already as wanted.
"""
from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from providers.clients.whm import PROVIDER, WhmClient, account_name, normal_pem, server_id, whm_client_for
from providers.core.config import current
from providers.core.errors import NotFound, ProviderError
from providers.core.inputs import domain_name, flag
from providers.core.resource import TAKEOVER, Input, ProviderAdapter

# --- WhmSsl -----------------------------------------------------------------------------------

SSL_INPUTS = ("domain", "username", "certificate_pem", "private_key_pem", "chain_pem", "force_https", "server")
CERTIFICATE_PARTS = ("certificate_pem", "private_key_pem", "chain_pem")


def _pem_text(marker: str):
    def rule(value: Any) -> str:
        if not isinstance(value, str) or marker not in value:
            raise ValueError(f"must be PEM text containing '{marker}'")
        return value
    return rule


def _chain(value: Any) -> str | None:
    if not value:
        return None
    if not isinstance(value, str) or "BEGIN CERTIFICATE" not in value:
        raise ValueError("must be PEM certificates, or empty")
    return value


def _same_pem(old: Any, new: Any) -> bool:
    return normal_pem(old) == normal_pem(new)


class WhmSslProvider(ProviderAdapter):
    """A certificate installed for a domain of an account, and its HTTPS redirect: id = domain."""
    KIND = "whm-ssl"  # what the state stores (providers/stored.py)

    PROVIDER = PROVIDER
    INPUTS = (
        Input("domain", domain_name, required=True),
        Input("username", account_name, required=True),
        Input("certificate_pem", _pem_text("BEGIN CERTIFICATE"), required=True, same=_same_pem),
        Input("private_key_pem", _pem_text("PRIVATE KEY"), required=True, same=_same_pem),
        Input("chain_pem", _chain, same=_same_pem),
        Input("force_https", flag, default=True, same=lambda old, new: bool(old) == bool(new)),
        Input("server", server_id),
        TAKEOVER,
    )
    REPLACES = ("domain", "username")
    NOT_DIFFED = ("takeover",)
    SECRETS = ("private_key_pem",)

    def client(self) -> WhmClient:
        return WhmClient(current(), self.retry, self.timeout)

    def client_for(self, props: dict) -> WhmClient:
        return whm_client_for(props, self.retry, self.timeout)

    def make(self, client, props):
        return props["domain"], self._install(client, props, certificate=True)

    def existing(self, client, props):
        if props.get("takeover") is not True:
            return None  # an order's certificate is installed over whatever is there, as before
        try:
            return client.fetchsslinfo(props["domain"])
        except NotFound:
            return None

    def marked(self, found):
        return False  # an installation carries no mark: the stack's state is the record

    def take_over(self, client, found, props):
        same = (normal_pem(found.get("crt")) == normal_pem(props["certificate_pem"])
                and normal_pem(found.get("key")) == normal_pem(props["private_key_pem"]))
        redirect = found.get("ssl_redirect")  # a stand-in extra: real WHM does not say
        return props["domain"], self._install(
            client, props, certificate=not same,
            redirect=redirect is None or bool(int(redirect)) != bool(props.get("force_https")))

    def observe(self, client, id_, props):
        return id_, self._outputs(props, client.fetchsslinfo(id_))

    def change(self, client, _id, olds, news):
        # On another server (the account moved) the certificate is installed there afresh.
        certificate = (any(normal_pem(olds.get(k)) != normal_pem(news.get(k)) for k in CERTIFICATE_PARTS)
                       or olds.get("server") != news.get("server"))
        return self._install(client, news, certificate=certificate)

    def remove(self, client, id_, props):
        # The certificate goes with the account; what outlives us is the redirect.
        try:
            client.toggle_ssl_redirect(props["username"], id_, False)
        except NotFound:
            pass
        except ProviderError as exc:
            if exc.retryable or "do not own" not in exc.message:
                raise

    def _install(self, client: WhmClient, props: dict, *, certificate: bool, redirect: bool = True) -> dict:
        if certificate:
            client.installssl(domain=props["domain"], crt=props["certificate_pem"],
                              key=props["private_key_pem"], cab=props.get("chain_pem"))
        if redirect:
            client.toggle_ssl_redirect(props["username"], props["domain"], bool(props.get("force_https")))
        return self._outputs(props, client.fetchsslinfo(props["domain"]))

    @staticmethod
    def _outputs(props: dict, info: dict) -> dict:
        outs = {key: props.get(key) for key in SSL_INPUTS}
        installed = info.get("crt")
        if installed and normal_pem(installed) != normal_pem(props.get("certificate_pem")):
            outs["certificate_pem"] = installed
        outs["username"] = info.get("user") or props.get("username")
        outs["force_https"] = bool(int(info.get("ssl_redirect") or 0))
        outs["cert_id"] = info.get("cert_id")
        outs["not_after"] = info.get("not_after")
        return outs


class WhmSsl(Resource):
    """A TLS certificate installed for an account's domain, optionally forcing HTTPS."""

    cert_id: pulumi.Output[str]
    not_after: pulumi.Output[int]
    force_https: pulumi.Output[bool]

    def __init__(self, name: str, *, domain: pulumi.Input[str], username: pulumi.Input[str],
                 certificate_pem: pulumi.Input[str], private_key_pem: pulumi.Input[str],
                 chain_pem: pulumi.Input[str] | None = None, force_https: pulumi.Input[bool] = True,
                 server: pulumi.Input[str] | None = None, takeover: bool | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        props = {"domain": domain, "username": username, "certificate_pem": certificate_pem,
                 "private_key_pem": private_key_pem, "chain_pem": chain_pem, "force_https": force_https,
                 "server": server, "takeover": takeover,
                 "cert_id": None, "not_after": None}
        super().__init__(WhmSslProvider(), name, props, WhmSslProvider.options(opts))
