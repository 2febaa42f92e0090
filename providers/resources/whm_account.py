"""cPanel WHM hosting accounts (`WhmAccount`); their certificate, `WhmSsl`, is in whm_ssl.py.

The adapter maps Pulumi's operations onto `WhmClient` (providers/clients/whm.py, WHM API 1).

Upstream quirks that shape this module:

- `createacct` is slow and has no idempotency key, so it is never retried blindly:
  every attempt first looks the account up by domain, and a create that timed out
  but did its work upstream is adopted on the next attempt.
- An account can carry no mark of ours (the contact email is the orderer's to set), so the
  account's domain is claimed for the stack in the claims ledger (providers/core/claims.py)
  before `createacct`, with the username tried; an account found upstream is adopted only
  under this stack's claim and that username.
- `changepackage` resets the account's limits to the package's, so a quota override
  is applied again afterwards (`editquota`).
- An account taken over by an import (`takeover`, providers/core/resource.py) is marked by
  its claim alone: its password is not ours to know, so it is never reset but on the
  customer's request (`password_version`), and the `password` output stays empty.
"""
from __future__ import annotations

import logging
from typing import Any

import pulumi
from pulumi.dynamic import Resource

from providers.clients.whm import (PROVIDER, WhmClient, account_name, derive_username, megabytes, new_password,
                                   server_id, username_stem, whm_client_for)
from providers.core.claims import ClaimLedger
from providers.core.config import current
from providers.core.errors import NotOurs, ProviderError
from providers.core.inputs import domain_name, flag
from providers.core.resource import OWNER, TAKEOVER, Input, ProviderAdapter
from providers.core.values import whole_number

log = logging.getLogger(__name__)

MAX_QUOTA_MB = 1_048_576


# --- WhmAccount -----------------------------------------------------------------------------

def _username(value: Any) -> str | None:
    return None if value == "" else account_name(value)  # none given: derive one


def _plan(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("the WHM package name must not be empty")
    return value


def _quota(value: Any) -> int:
    number = whole_number(value)
    if number is None or not 1 <= number <= MAX_QUOTA_MB:
        raise ValueError(f"must be a whole number of MB from 1 to {MAX_QUOTA_MB}")
    return number


def _email(value: Any) -> str | None:
    if value == "":
        return None
    if not isinstance(value, str) or "@" not in value:
        raise ValueError(f"{value!r} is not an email address")
    return value


ACCOUNT_INPUTS = ("domain", "username", "plan", "quota_mb", "contact_email", "suspended",
                  "suspend_reason", "password_version", "owner", "server")


class WhmAccountProvider(ProviderAdapter):
    """A cPanel account: id = username; deleting it removes the account upstream.

    Its files, databases and mail are the customer's: a diff that would replace it (its
    primary domain changed, in WHM by someone or in the order) stops the run for an operator."""
    KIND = "whm-account"  # what the state stores (providers/stored.py)

    PROVIDER = PROVIDER
    WHAT = "the WHM account"
    INPUTS = (
        Input("domain", domain_name, required=True),
        Input("username", _username),
        Input("plan", _plan, required=True),
        Input("quota_mb", _quota),
        Input("contact_email", _email),
        Input("suspended", flag, default=False),
        Input("suspend_reason", lambda reason: reason or None),
        Input("password_version"),
        OWNER,
        Input("server", server_id),
        TAKEOVER,
    )
    REPLACES = ("domain", "username")
    # No username input means "derive one": the derived name in olds is not a change.
    GENERATED = ("username",)
    # contact_email is applied at creation only (no function in our WHM contract changes it);
    # a suspension's reason matters only while suspended (more_changes).
    NOT_DIFFED = ("contact_email", "suspend_reason", "takeover")
    SECRETS = ("password",)
    # An in-place update (package, quota, suspension, password) never moves the account: a
    # preview keeps its address known, so the zone and mail that follow it show no change.
    STABLE_ON_UPDATE = ("ip", "username", "cpanel_url")
    CUSTOMER_DATA = True
    TAKEOVER_NEEDS_OBJECT = True
    create_timeout = 180.0

    def client(self) -> WhmClient:
        return WhmClient(current(), self.retry, self.timeout, self.create_timeout)

    def client_for(self, props: dict) -> WhmClient:
        return whm_client_for(props, self.retry, self.timeout, self.create_timeout)

    def claims(self) -> ClaimLedger:
        return ClaimLedger(PROVIDER, current(), self.retry)

    def named(self, props):
        user = props.get("username")
        return f"the WHM account {user}" if user else f"the WHM account for {props.get('domain')}"

    def replacement_refused(self, prop, olds, news):
        created = olds.get("created_domain")
        if prop == "domain" and created and created == news.get("domain") != olds.get("domain"):
            return (f"the primary domain of {self.named(olds)} changed from {created} to {olds.get('domain')} "
                    f"outside mpanel, and the subscription is for {created}: mpanel will not replace the account "
                    "(that would delete its files, databases and mail); an operator must decide (rename it back "
                    "in WHM, or change the subscription)")
        return super().replacement_refused(prop, olds, news)

    def more_changes(self, olds, news):
        if news.get("suspended") and olds.get("suspend_reason") != news.get("suspend_reason"):
            return ["suspend_reason"], []
        return [], []

    def delete_first(self, replaces):
        # Same domain under a new name: WHM refuses a second account for it.
        return "username" in replaces and "domain" not in replaces

    def existing(self, client, props):
        found = client.find_account(domain=props["domain"])
        if found is None:
            return None
        return {**found, "claim": self.claims().find(props["domain"])}

    def owns(self, found, props):
        # Ours to adopt: this stack claimed the domain, with this username, before createacct
        # (what a create that crashed after createacct leaves behind).
        wanted, claim = props.get("username"), found.get("claim")
        return (claim is not None and claim["owner"] == props["owner"]
                and claim["detail"] in (None, found["user"]) and (not wanted or found["user"] == wanted))

    def marked(self, found):
        return found.get("claim") is not None

    def take_over(self, client, found, props):
        username = found["user"]
        if props.get("username") and props["username"] != username:
            raise self.not_ours(found, props)
        claim = self.claims().claim(props["domain"], props["owner"], username)
        if claim["owner"] != props["owner"]:
            raise self.not_ours({**found, "claim": claim}, props)
        log.info("taking over the existing WHM account %s for %s (an import)", username, props["domain"])
        return username, self._outputs(client, {**props, "taken_over": True}, client.account_summary(username), None)

    def not_ours(self, found, props):
        domain, wanted, claim = props["domain"], props.get("username"), found.get("claim")
        if wanted and found["user"] != wanted:
            return NotOurs(PROVIDER, f"the domain {domain} already belongs to the WHM account {found['user']}, "
                                     f"not {wanted}; refusing to adopt it")
        # Taking over an account someone else made would hand its site (and, through the
        # password reset of an adoption, its login) to this order's customer.
        if claim is not None and claim["owner"] != props["owner"]:
            whose = f"was created for the stack {claim['owner']}"
        else:
            whose = "was not created by mpanel for this stack"
        return NotOurs(PROVIDER, f"the domain {domain} already has the WHM account {found['user']}, which "
                                 f"{whose}; refusing to adopt it (the account is left untouched)")

    def adopt(self, client, found, props):
        username = found["user"]
        log.info("adopting the existing WHM account %s for %s", username, props["domain"])
        # The password in state must open the account: we never knew the old one.
        password = new_password()
        client.passwd(username, password)
        account = self._converge(client, username, props, client.account_summary(username), reset_limits=True)
        return username, self._outputs(client, props, account, password)

    def make(self, client, props):
        domain, wanted, owner = props["domain"], props.get("username"), props["owner"]
        password = new_password()

        def attempt() -> tuple[dict | None, str]:
            # Looking up first on every attempt is what makes retrying a create safe: a
            # createacct that timed out but did its work is found here and adopted.
            found = self.existing(client, props)
            if found is not None:
                if not self.owns(found, props):
                    raise self.not_ours(found, props)
                return found, found["user"]
            if wanted:
                username = wanted
                if client.find_account(user=wanted) is not None:
                    raise ProviderError(PROVIDER, f"the username {wanted} is taken by another account")
            else:
                username = derive_username(domain, client.usernames_starting_with(username_stem(domain)[:4]))
            # Committed before createacct: the proof that lets a crash after it be adopted.
            claim = self.claims().claim(domain, owner, username)
            if claim["owner"] != owner:
                raise NotOurs(PROVIDER, f"the domain {domain} is claimed for a WHM account of the stack "
                                        f"{claim['owner']} (since {claim['created_at']:%Y-%m-%d %H:%M}); "
                                        "refusing to create a second account for it")
            try:
                client.createacct(username=username, domain=domain, plan=props["plan"], password=password,
                                  contact_email=props.get("contact_email"), quota_mb=props.get("quota_mb"))
            except ProviderError as exc:
                if not wanted and "taken" in exc.message:
                    # Another create took the derived name between lookup and create: derive again.
                    exc.retryable = True
                elif not exc.retryable and exc.status is None and client.find_account(domain=domain) is None:
                    # WHM answered that it made nothing: the claim recorded for the attempt can go.
                    self.claims().release(domain, owner)
                raise
            return None, username

        found, username = self.retry.run(attempt)
        if found is not None:
            return self.adopt(client, found, props)
        account = client.account_summary(username)
        if props.get("suspended"):
            account = self._converge(client, username, props, account)
        return username, self._outputs(client, props, account, password)

    def observe(self, client, id_, props):
        account = client.account_summary(id_)
        outs = self._outputs(client, props, account, props.get("password"))
        wanted_quota = props.get("quota_mb")
        actual_quota = megabytes(account.get("disklimit"))
        if wanted_quota is not None and actual_quota != wanted_quota:
            outs["quota_mb"] = actual_quota
        return id_, outs

    def change(self, client, id_, olds, news):
        if not olds.get("owner"):
            # Made before claims existed: the account in our state is ours; claim it now.
            claim = self.claims().claim(news["domain"], news["owner"], id_)
            if claim["owner"] != news["owner"]:
                raise NotOurs(PROVIDER, f"the domain {news['domain']} of {self.named(olds)} is claimed for the "
                                        f"stack {claim['owner']}; refusing to mark it as {news['owner']}'s")
        account = client.account_summary(id_)
        password = olds.get("password")
        taken_over = olds.get("taken_over")
        # An imported account's password is the customer's (we never knew it): kept until they ask.
        if olds.get("password_version") != news.get("password_version") or not (password or taken_over):
            password = new_password()
            client.passwd(id_, password)
        account = self._converge(client, id_, news, account,
                                 reset_limits=olds.get("quota_mb") != news.get("quota_mb"),
                                 reason_changed=olds.get("suspend_reason") != news.get("suspend_reason"))
        return self._outputs(client, {**news, "taken_over": taken_over}, account, password)

    def remove(self, client, id_, props):
        client.removeacct(id_)
        if props.get("owner"):
            self.claims().release(props.get("created_domain") or props["domain"], props["owner"])

    # -- one path for adopt and update: make the account match the inputs ----------------------

    def _converge(self, client: WhmClient, user: str, props: dict, account: dict, *,
                  reset_limits: bool = False, reason_changed: bool = False) -> dict:
        changed = False
        quota = props.get("quota_mb")
        if account.get("plan") != props["plan"] or (reset_limits and quota is None):
            # changepackage also resets the limits to the package's: the way back from an override.
            client.changepackage(user, props["plan"])
            account = client.account_summary(user)
        # Only when the package's own quota is not the one wanted: plans usually match their
        # package, and editquota is the one function here the stand-in does not implement.
        if quota is not None and megabytes(account.get("disklimit")) != quota:
            client.editquota(user, quota)
            changed = True
        suspended = bool(int(account.get("suspended") or 0))
        if props.get("suspended") and (not suspended or reason_changed):
            client.suspendacct(user, props.get("suspend_reason"))
            changed = True
        elif not props.get("suspended") and suspended:
            client.unsuspendacct(user)
            changed = True
        return client.account_summary(user) if changed else account

    @staticmethod
    def _outputs(client: WhmClient, props: dict, account: dict, password: str | None) -> dict:
        return {
            # Kept once set: an imported account stays one (see the module's note on passwords).
            **({"taken_over": True} if props.get("taken_over") else {}),
            **{key: props.get(key) for key in ACCOUNT_INPUTS},
            # The domain the account was made with (the claim's key): what WHM says may drift.
            "created_domain": props.get("created_domain") or props.get("domain"),
            "username": account["user"],
            "domain": account.get("domain") or props.get("domain"),
            "plan": account.get("plan"),
            "suspended": bool(int(account.get("suspended") or 0)),
            "ip": account.get("ip"),
            "password": password,
            "cpanel_url": client.cpanel_url,
        }


class WhmAccount(Resource):
    """A cPanel hosting account on the WHM of its web server."""

    username: pulumi.Output[str]
    password: pulumi.Output[str]
    ip: pulumi.Output[str]
    plan: pulumi.Output[str]
    suspended: pulumi.Output[bool]
    cpanel_url: pulumi.Output[str]
    domain: pulumi.Output[str]

    def __init__(self, name: str, *, domain: pulumi.Input[str], plan: pulumi.Input[str],
                 username: pulumi.Input[str] | None = None, quota_mb: pulumi.Input[int] | None = None,
                 contact_email: pulumi.Input[str] | None = None, suspended: pulumi.Input[bool] = False,
                 suspend_reason: pulumi.Input[str] | None = None,
                 password_version: pulumi.Input[int] | None = None, owner: pulumi.Input[str],
                 server: pulumi.Input[str] | None = None, takeover: bool | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        """`owner`: the stack (e.g. "sub-42") the account's domain is claimed for before createacct;
        `server`: the web server (servers.id) whose WHM holds the account (None: CPANEL_WHM_URL's);
        `takeover`: an imported account, taken over as it is (providers/core/resource.py)."""
        props = {"domain": domain, "plan": plan, "username": username, "quota_mb": quota_mb,
                 "contact_email": contact_email, "suspended": suspended, "suspend_reason": suspend_reason,
                 "password_version": password_version, "owner": owner, "server": server, "takeover": takeover,
                 # Outputs only; declared so that they are attributes of the resource.
                 "password": None, "ip": None, "cpanel_url": None, "created_domain": None, "taken_over": None}
        super().__init__(WhmAccountProvider(), name, props, WhmAccountProvider.options(opts))

