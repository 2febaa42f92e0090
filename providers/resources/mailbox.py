"""One IMAP mailbox on the mail-core server (`Mailbox`): one row in `mailboxes`, under its
`MailDomain` (providers/resources/mail_domain.py), through `MailCoreClient`
(providers/clients/mailcore.py). The password is stored only as an `{ARGON2ID}` hash and
handed back once, as a secret output."""
from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from providers.clients.mailcore import (PASSWORD_LENGTH, PROVIDER, MailCoreClient, address_problem, hash_password,
                                        held_by, new_password)
from providers.core.errors import NotFound, NotOurs, ProviderError
from providers.core.inputs import checked_by
from providers.core.resource import OWNER, TAKEOVER, Input
from providers.resources.on_mail_core import OnMailCore

DEFAULT_QUOTA_MB = 1024
QUOTA_RANGE = (10, 102400)


_address = checked_by(address_problem)


def _quota(value: Any) -> int:
    # Numbers cross the engine as floats (1024 arrives as 1024.0).
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    low, high = QUOTA_RANGE
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"quota_mb must be a whole number of MB from {low} to {high}")
    return value


def _password(value: Any) -> str:
    # Never echo the value in a reason.
    shortest, longest = PASSWORD_LENGTH
    if not isinstance(value, str) or not shortest <= len(value) <= longest:
        raise ValueError(f"password must be {shortest} to {longest} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("password must not contain control characters")
    return value


class MailboxProvider(OnMailCore):
    """One IMAP mailbox: id = address; its password leaves the provider only as a secret output.

    A mailbox's mark is its domain's owner: a row is written (created, or adopted after a
    crash after INSERT) only under a mail domain marked for this stack, and an adopted row
    gets the password create returns, so the secret output always logs in. Mail already on
    disk for the address is kept."""
    KIND = "mailbox"  # what the state stores (providers/stored.py)

    PROVIDER = PROVIDER
    WHAT = "the mailbox"
    INPUTS = (
        Input("address", _address, required=True),
        Input("quota_mb", _quota, default=DEFAULT_QUOTA_MB),
        Input("password", _password),
        Input("generation"),
        OWNER,
        TAKEOVER,
    )
    REPLACES = ("address",)
    # No password input means "keep the one we generated"; only a new given one is a change.
    GENERATED = ("password",)
    NOT_DIFFED = ("generation", "takeover")
    SECRETS = ("password",)
    # A new generation is the customer's own doing (removed and added again): allowed.
    CUSTOMER_REPLACES = ("generation",)

    def named(self, props):
        return f"the mailbox {props.get('address')}"

    def more_changes(self, olds, news):
        changes, replaces = [], []
        # A new generation is a new mailbox at the same address (removed and added again by the
        # customer): the old one and its mail go first. A generation first recorded is no change.
        if news.get("generation") is not None and olds.get("generation") != news.get("generation"):
            (replaces if olds.get("generation") is not None else changes).append("generation")
        # A mailbox disabled behind our back (seen by refresh) is switched back on.
        if olds.get("active") is False:
            changes.append("active")
        return changes, replaces

    def delete_first(self, replaces):
        return "generation" in replaces

    def existing(self, client, props):
        return client.get_mailbox(props["address"])

    def not_ours(self, found, props):
        domain = props["address"].split("@")[1]
        return NotOurs(PROVIDER, f"the mailbox {props['address']} already exists under the mail domain {domain}, "
                                 f"which {held_by(found['owner'])}, not to the stack {props['owner']}; "
                                 "refusing to adopt it (its password and mail are left untouched)")

    def adopt(self, client, _found, props):
        return self.make(client, props)

    def marked(self, found):
        return found["owner"] is not None

    def take_over(self, client, found, props):
        # An imported mailbox: its password and mail are the customer's; its mark is its domain's
        # (taken over just before). Nothing is written; the password output stays empty.
        if found["owner"] != props["owner"]:
            raise self.not_ours(found, props)
        home = client.maildir(*reversed(props["address"].split("@")))
        return props["address"], {"address": found["address"], "quota_mb": found["quota_mb"], "password": None,
                                  "home": str(home), "active": found["active"], "generation": props.get("generation"),
                                  "owner": found["owner"], "taken_over": True}

    def make(self, client, props):
        password = props.get("password") or new_password()
        return props["address"], self._put(client, props, props["quota_mb"], password)

    def observe(self, client, id_, props):
        row = client.get_mailbox(id_)
        if row is None:
            raise NotFound(PROVIDER, f"mailbox {id_} does not exist in mail-core")
        return id_, {**{k: props[k] for k in ("password", "home", "generation", "taken_over") if k in props},
                     "address": row["address"], "quota_mb": row["quota_mb"], "active": row["active"],
                     "owner": row["owner"]}

    def change(self, client, _id, olds, news):
        # Only a new given password is written: the customer may have changed theirs in webmail
        # since, and a quota change or a re-enable must not reset it. (The secret output stays
        # the password we last set: the temporary one from the welcome email.)
        given = news.get("password")
        # A mailbox in our state is ours even when its domain has no mark yet (made before marks).
        if given is not None and given != olds.get("password"):
            return self._put(client, news, news["quota_mb"], given, unmarked_too=True)
        # A mailbox taken over keeps the password it came with (we never knew it).
        keep = bool(olds.get("password") or olds.get("taken_over"))
        password = olds.get("password") or new_password()
        outs = self._put(client, news, news["quota_mb"], password, keep_password=keep, unmarked_too=True)
        return {**outs, "password": olds.get("password"), "taken_over": True} if olds.get("taken_over") else outs

    def remove(self, client, id_, _props):
        if address_problem(id_):
            raise ProviderError(PROVIDER, f"the recorded mailbox id {id_!r} is not a mailbox address")
        client.delete_mailbox(id_)
        client.remove_maildir(*reversed(id_.split("@")))

    @staticmethod
    def _put(client: MailCoreClient, props: dict, quota_mb: int, password: str, keep_password: bool = False,
             unmarked_too: bool = False) -> dict:
        address = props["address"]
        home = client.maildir(*reversed(address.split("@")))
        client.put_mailbox(address, hash_password(password), quota_mb, props["owner"], keep_password=keep_password,
                           unmarked_too=unmarked_too)
        return {"address": address, "quota_mb": quota_mb, "password": password, "home": str(home),
                "active": True, "generation": props.get("generation"), "owner": props["owner"]}


class Mailbox(Resource, module="mailcore", name="Mailbox"):
    address: pulumi.Output[str]
    quota_mb: pulumi.Output[int]
    password: pulumi.Output[str]
    home: pulumi.Output[str]
    active: pulumi.Output[bool]
    owner: pulumi.Output[str]

    def __init__(self, name: str, *, address, owner, quota_mb=DEFAULT_QUOTA_MB, password=None, generation=None,
                 takeover: bool | None = None, opts: pulumi.ResourceOptions | None = None):
        """`generation`: changes when the mailbox at this address is a new one (replaced, mail and all).
        `owner`: the stack (e.g. "sub-42"); the mailbox is written only under a mail domain marked for it.
        `takeover`: an imported mailbox, taken over as it is (providers/core/resource.py)."""
        super().__init__(MailboxProvider(), name, {
            "address": address, "quota_mb": quota_mb, "password": password, "generation": generation,
            "owner": owner, "takeover": takeover, "home": None, "active": None},
            MailboxProvider.options(opts))
