"""A domain the mail-core server accepts mail for (`MailDomain`): one row in `mail_domains`, with
the DKIM private key encrypted at rest, through `MailCoreClient` (providers/clients/mailcore.py).
Its mailboxes are in providers/resources/mailbox.py."""
from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from providers.clients.mailcore import PROVIDER, decrypt_key, domain_not_ours, encrypt_key
from providers.core.config import current
from providers.core.errors import NotFound, ProviderError
from providers.core.inputs import checked_by
from providers.core.resource import OWNER, TAKEOVER, Input
from providers.resources.on_mail_core import OnMailCore
from providers.rules.names import bare, domain_problem, label_ok

DEFAULT_SELECTOR = "mpanel"


_domain = checked_by(domain_problem)


def _selector(value: Any) -> str:
    value = bare(value) if isinstance(value, str) else value
    if not (isinstance(value, str) and all(label_ok(p) for p in value.split("."))):
        raise ValueError("dkim_selector must be DNS labels of a-z, 0-9 and '-'")
    return value


def _routable(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("routable must be true or false")
    return value


def _private_key(value: Any) -> str | None:
    if value == "":
        return None  # a zone taken over knows no private key: the row keeps its own
    if not isinstance(value, str) or not _loads_as_private_key(value):
        # Never echo the value: it is a private key.
        raise ValueError("dkim_private_key must be a PEM private key without a passphrase")
    return value.strip() + "\n"


class MailDomainProvider(OnMailCore):
    """A domain the mail-core server accepts mail for, with its DKIM signing key: id = domain.

    The row carries its owner (the stack); an existing row is adopted only when it carries ours
    (a create that crashed before being recorded)."""
    KIND = "mail-domain"  # what the state stores (providers/stored.py)

    PROVIDER = PROVIDER
    WHAT = "the mail domain"
    INPUTS = (
        Input("domain", _domain, required=True),
        Input("dkim_selector", _selector, default=DEFAULT_SELECTOR),
        Input("dkim_private_key", _private_key),
        # Delivered here for other tenants and our own services (True), or relayed out as a
        # foreign domain until the customer proved control (app/services/domains/proof.py).
        # State written before this input existed lacks it: it meant True (no spurious update).
        Input("routable", _routable, default=True, same=lambda old, new: (True if old is None else old) == new),
        OWNER,
        TAKEOVER,
    )
    REPLACES = ("domain",)
    # None given (a zone taken over passes on no key: it never saw the mail server's): the row's
    # own key stays, and is no change.
    GENERATED = ("dkim_private_key",)
    NOT_DIFFED = ("takeover",)
    SECRETS = ("dkim_private_key",)

    def named(self, props):
        return f"the mail domain {props.get('domain')}"

    def existing(self, client, props):
        return client.get_domain(props["domain"])

    def marked(self, found):
        return found["owner"] is not None

    def take_over(self, client, _found, props):
        # Its DKIM key, selector and routing stay as the import found them; only the owner is ours.
        row = client.mark_domain(props["domain"], props["owner"])
        if row is None:
            return self.make(client, props)  # removed since we looked
        return props["domain"], self._row_outputs(row)

    def not_ours(self, found, props):
        return domain_not_ours(found["name"], found["owner"], props["owner"])

    def adopt(self, client, _found, props):
        if client.update_domain(props["domain"], props["dkim_selector"], self._encrypted(props), props["owner"],
                                props["routable"]) is None:
            return self.make(client, props)  # removed since we looked
        return props["domain"], self._outputs(props)

    def make(self, client, props):
        if not client.insert_domain(props["domain"], props["dkim_selector"], self._encrypted(props), props["owner"],
                                    props["routable"]):
            # Made by someone between our lookup and our insert: judged like any existing row.
            found = client.get_domain(props["domain"])
            if found is not None and not self.owns(found, props):
                raise self.not_ours(found, props)
            return self.adopt(client, found, props)
        return props["domain"], self._outputs(props)

    def observe(self, client, id_, props):
        row = client.get_domain(id_)
        if row is None:
            raise NotFound(PROVIDER, f"mail domain {id_} does not exist in mail-core")
        return id_, self._row_outputs(row)

    def _row_outputs(self, row: dict) -> dict:
        key = decrypt_key(current(), row["dkim_private_key"]) if row["dkim_private_key"] else None
        return self._outputs({"domain": row["name"], "dkim_selector": row["dkim_selector"],
                              "dkim_private_key": key, "owner": row["owner"], "routable": row.get("routable", True)})

    def change(self, client, _id, olds, news):
        news = {**news, "dkim_private_key": news.get("dkim_private_key") or olds.get("dkim_private_key")}
        # The row in our state is ours even without a mark (made before marks existed): it gets ours.
        written = client.update_domain(news["domain"], news["dkim_selector"], self._encrypted(news), news["owner"],
                                       news["routable"], unmarked_too=True)
        if written is None and not client.insert_domain(news["domain"], news["dkim_selector"],
                                                        self._encrypted(news), news["owner"], news["routable"]):
            raise self.not_ours(client.get_domain(news["domain"]), news)
        return self._outputs(news)

    def remove(self, client, id_, _props):
        if domain_problem(id_):
            raise ProviderError(PROVIDER, f"the recorded mail domain id {id_!r} is not a domain name")
        client.delete_domain(id_)
        client.remove_maildir(id_)

    @staticmethod
    def _encrypted(props: dict) -> str | None:
        key = props.get("dkim_private_key")
        return encrypt_key(current(), key) if key else None

    @staticmethod
    def _outputs(props: dict) -> dict:
        outs = {"domain": props["domain"], "dkim_selector": props["dkim_selector"], "owner": props.get("owner"),
                "routable": props.get("routable", True)}
        if props.get("dkim_private_key"):
            outs["dkim_private_key"] = props["dkim_private_key"]
        return outs


def _loads_as_private_key(pem: str) -> bool:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        load_pem_private_key(pem.encode(), password=None)
        return True
    except (ValueError, TypeError):
        return False


class MailDomain(Resource, module="mailcore", name="MailDomain"):
    domain: pulumi.Output[str]
    dkim_selector: pulumi.Output[str]
    dkim_private_key: pulumi.Output[str]

    owner: pulumi.Output[str]
    routable: pulumi.Output[bool]

    def __init__(self, name: str, *, domain, owner, dkim_private_key=None, dkim_selector=DEFAULT_SELECTOR,
                 routable=True, takeover: bool | None = None, opts: pulumi.ResourceOptions | None = None):
        """`owner`: the stack (e.g. "sub-42") the row is marked with; `routable`: mail from
        other tenants is delivered here (else relayed out until control is proven); `takeover`:
        an imported domain, taken over as it is (providers/core/resource.py)."""
        super().__init__(MailDomainProvider(), name, {
            "domain": domain, "dkim_selector": dkim_selector, "dkim_private_key": dkim_private_key,
            "routable": routable, "owner": owner, "takeover": takeover}, MailDomainProvider.options(opts))
