"""A customer's domain registration at NameSilo (`DomainRegistration`).

`DomainRegistrationProvider` maps Pulumi's operations onto `NameSiloClient`
(providers/clients/namesilo.py).

Upstream facts that shape this module:

- registerDomain and transferDomain charge the account and have no idempotency key:
  every attempt first looks the domain up in our account, so a request that timed out
  after doing its work is adopted, never paid for twice.
- A registration is the customer's asset: delete only turns auto-renew off.
- The registrar account holds every domain the operator ever registered, so being in it
  proves nothing: the name is claimed for the stack in the claims ledger
  (providers/core/claims.py) before registerDomain/transferDomain, and a domain found in
  the account is adopted only under this stack's claim.
- An imported account's domain found in the registrar account with no claim (`takeover`,
  providers/core/resource.py) is claimed for the stack and read as it is: not registered again,
  and its nameservers, auto-renewal, lock and contacts left as they are (the import checked that
  they are what the stack wants; the next converge applies the stack's wishes as for any order).
"""
from __future__ import annotations

import logging
import re
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, Resource

from providers.clients.namesilo import PROVIDER, NameSiloClient, nameservers_of, yes
from providers.core.claims import ClaimLedger
from providers.core.config import current
from providers.core.errors import NotFound, NotOurs, ProviderError
from providers.core.inputs import domain_name, flag
from providers.core.resource import OWNER, TAKEOVER, Input, ProviderAdapter
from providers.core.values import whole_number
from providers.rules.names import bare, is_hostname

log = logging.getLogger(__name__)

MODES = ("new_registration", "transfer")
MAX_YEARS = 10
MAX_NAMESERVERS = 13
# Transfer states after which nothing more will happen (real NameSilo words vary).
_FAILED_TRANSFER = re.compile(r"cancel|reject|fail|denied|expired|timed out", re.IGNORECASE)
_DONE_TRANSFER = re.compile(r"complete|success|active", re.IGNORECASE)


def _refused(exc: ProviderError) -> bool:
    """The registrar answered that it did nothing (a reply code, not a lost or throttled request):
    the claim recorded for the attempt can go."""
    return exc.status is None and not exc.retryable and exc.code is not None


# --- DomainRegistration ---------------------------------------------------------------------

INPUTS = ("domain", "mode", "auth_code", "nameservers", "years", "auto_renew", "lock", "private", "owner")


def _mode(value: Any) -> str:
    value = value or "new_registration"
    if value not in MODES:
        raise ValueError(f"must be one of {', '.join(MODES)} (an external domain is not registered through "
                         f"NameSilo), not {value!r}")
    return value


def _years(value: Any) -> int:
    number = whole_number(value)
    if number is None or not 1 <= number <= MAX_YEARS:
        raise ValueError(f"must be a whole number from 1 to {MAX_YEARS}")
    return number


def _nameserver_list(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise ValueError("must be a list of host names")
    names = [bare(str(n)) for n in value]
    bad = [n for n in names if not is_hostname(n)]
    if len(names) < 2 or len(names) > MAX_NAMESERVERS:
        raise ValueError(f"give 2 to {MAX_NAMESERVERS} nameservers")
    if bad:
        raise ValueError(f"not valid host names: {', '.join(bad)}")
    if len(set(names)) != len(names):
        raise ValueError("a nameserver is listed twice")
    return names


class DomainRegistrationProvider(ProviderAdapter):
    """A domain in our registrar account: id = domain; delete keeps it, with auto-renew off."""
    KIND = "namesilo-registration"  # what the state stores (providers/stored.py)

    PROVIDER = PROVIDER
    INPUTS = (
        Input("domain", domain_name, required=True),
        Input("mode", _mode, default="new_registration"),
        Input("auth_code"),
        Input("nameservers", _nameserver_list, default=lambda config: [config.NS1, config.NS2]),
        Input("years", _years, default=1),
        Input("auto_renew", flag, default=True),
        # The registrar lock the customer chose; None leaves it as the registrar has it.
        Input("lock", flag),
        Input("private", flag, default=True),
        OWNER,
        TAKEOVER,
    )
    REPLACES = ("domain", "mode")
    # years and private apply at registration; the auth code only to a transfer's submission.
    NOT_DIFFED = ("years", "private", "auth_code", "takeover")
    # An import found the domain in the account: gone now, it is not registered in its place.
    TAKEOVER_NEEDS_OBJECT = True
    SECRETS = ("auth_code",)
    WHAT = "the domain registration"
    CUSTOMER_DATA = True
    timeout = 60.0

    def client(self) -> NameSiloClient:
        return NameSiloClient(current(), self.retry, self.timeout)

    def claims(self) -> ClaimLedger:
        return ClaimLedger(PROVIDER, current(), self.retry)

    def named(self, props):
        return f"the registration of {props.get('domain')}"

    def check_more(self, inputs):
        if inputs.get("mode") == "transfer" and not inputs.get("auth_code"):
            return [CheckFailure("auth_code", "a transfer needs the domain's EPP auth code")]
        return []

    def existing(self, client, props):
        info = self._in_account(client, props["domain"])
        return None if info is None else {**info, "claim": self.claims().find(props["domain"])}

    def owns(self, found, props):
        # In our registrar account, and ordered by this stack (claimed before the registrar call).
        claim = found.get("claim")
        return claim is not None and claim["owner"] == props["owner"]

    def not_ours(self, found, props):
        claim, domain = found.get("claim"), props["domain"]
        whose = (f"was ordered for the stack {claim['owner']}" if claim
                 else "no order of this stack registered (the operator's, or a former customer's)")
        return NotOurs(PROVIDER, f"the domain {domain} is already in the registrar account and {whose}; refusing "
                                 "to adopt it (its nameservers and renewal are left untouched)")

    def _in_account_and_ours(self, client, props) -> bool:
        """True when the registration is already in the account and this stack's; NotOurs when
        it is there and another's; False when it is not there."""
        found = self.existing(client, props)
        if found is None:
            return False
        if not self.owns(found, props):
            raise self.not_ours(found, props)
        return True

    def _claim(self, props: dict) -> None:
        """Record the intent before a registrar call that charges the account (committed first)."""
        claim = self.claims().claim(props["domain"], props["owner"], props["mode"])
        if claim["owner"] != props["owner"]:
            raise NotOurs(PROVIDER, f"the domain {props['domain']} is claimed by an order of the stack "
                                    f"{claim['owner']}; refusing to order it again")

    def adopt(self, client, found, props):
        return props["domain"], self._converge(client, props)

    def marked(self, found):
        return found.get("claim") is not None

    def take_over(self, client, found, props):
        # The claim is the mark (recorded before any registrar call of ours, as for an order);
        # the registration itself is read, never changed here.
        self._claim(props)
        return props["domain"], self._outputs(props, client.domain_info(props["domain"]))

    def make(self, client, props):
        domain = props["domain"]

        def attempt() -> None:
            # Looking up first on every attempt is what makes retrying a paid order safe.
            if self._in_account_and_ours(client, props):
                return
            if props["mode"] == "transfer":
                if self._live_transfer(client, domain):
                    # A transfer under way is ours only if this stack claimed it before submitting.
                    claim = self.claims().find(domain)
                    if claim is None or claim["owner"] != props["owner"]:
                        raise self.not_ours({"claim": claim}, props)
                    return
                self._claim(props)
                try:
                    client.transfer(domain, auth_code=props["auth_code"], private=props.get("private", True),
                                    auto_renew=props.get("auto_renew", True))
                except ProviderError as exc:
                    if _refused(exc):
                        self.claims().release(domain, props["owner"])
                    raise
                return
            availability = client.availability(domain)
            if availability == "unavailable":
                if self._in_account_and_ours(client, props):  # registered since the look above
                    return
                claim = self.claims().find(domain)
                if claim is not None and claim["owner"] == props["owner"]:
                    # This stack claimed the name before an earlier attempt's registerDomain, killed
                    # before its answer: the registrar may still be completing that registration
                    # (taken, not yet listed in the account). Asked again later, never given up as
                    # "unavailable" while our own registration may be landing.
                    raise ProviderError(PROVIDER, f"domain {domain} is taken and not yet in this account, and "
                                                  "an earlier attempt of this stack registered it: waiting for "
                                                  "the registrar", code=261, retryable=True)
                raise ProviderError(PROVIDER, f"domain {domain} is not available for registration", code=261)
            if availability == "invalid":
                raise ProviderError(PROVIDER, f"{domain}: invalid domain name or unsupported TLD", code=267)
            self._claim(props)
            try:
                reply = client.register(domain, years=props.get("years", 1), nameservers=props["nameservers"],
                                        private=props.get("private", True), auto_renew=props.get("auto_renew", True))
            except ProviderError as exc:
                if exc.code != 262:
                    if _refused(exc):
                        self.claims().release(domain, props["owner"])
                    raise
                # Already at NameSilo: ours (adopted on the next attempt) or someone else's.
                if self._in_account(client, domain) is None:
                    raise ProviderError(PROVIDER, f"domain {domain} is already registered at NameSilo, "
                                                  f"but not in this account", code=262) from None
                return
            if reply["code"] == 301:
                log.warning("NameSilo replaced the nameservers of %s by its defaults", domain)

        self.retry.run(attempt)
        return domain, self._converge(client, props)

    def observe(self, client, id_, props):
        info, status = self._observe(client, id_, props.get("mode"))
        if info is not None:
            return id_, self._outputs(props, info)
        if status:
            return id_, self._pending_outputs(props, status)
        raise NotFound(PROVIDER, f"domain {id_} is not in this NameSilo account")

    def change(self, client, _id, olds, news):
        if not olds.get("owner"):
            # Registered before claims existed: the registration in our state is ours; claim it now.
            self._claim(news)
        return self._converge(client, news)

    def remove(self, client, id_, props):
        # Retain on delete: the registration is the customer's. A domain no longer in our
        # account (or a transfer not completed) has no auto-renewal of ours to turn off (NotFound).
        try:
            client.set_auto_renew(id_, False)
        except NotFound:
            pass
        # Released: the domain stays in the registrar account, and a later order for it (by
        # anyone, this customer included) is refused as not ours until an operator decides.
        if props.get("owner"):
            self.claims().release(id_, props["owner"])

    # -- one path for create, adopt and update -------------------------------------------------

    def _converge(self, client: NameSiloClient, props: dict) -> dict:
        """Make nameservers and auto-renew match; the outputs as they then are."""
        domain = props["domain"]
        info, status = self._observe(client, domain, props.get("mode"))
        if info is None:
            if not status:
                raise ProviderError(PROVIDER, f"domain {domain} is not in this NameSilo account "
                                              f"and no transfer of it is under way")
            # Nothing can be changed before the transfer completes; a refresh then sees
            # the registrar's defaults as drift and the next update applies ours.
            return self._pending_outputs(props, status)
        changed = False
        if nameservers_of(info) != list(props["nameservers"]):
            client.change_nameservers(domain, list(props["nameservers"]))
            changed = True
        if yes(info.get("auto_renew")) != bool(props.get("auto_renew")):
            client.set_auto_renew(domain, bool(props.get("auto_renew")))
            changed = True
        if props.get("lock") is not None and yes(info.get("locked")) != props["lock"]:
            client.set_lock(domain, props["lock"])
            changed = True
        return self._outputs(props, client.domain_info(domain) if changed else info)

    def _observe(self, client: NameSiloClient, domain: str, mode: str | None) -> tuple[dict | None, str | None]:
        """The registration in our account, else the status of a transfer of it under way."""
        info = self._in_account(client, domain)
        if info is not None or mode != "transfer":
            return info, None
        status = self._live_transfer(client, domain)
        if status and _DONE_TRANSFER.search(status):
            # Asking for the status can be what completes it: the domain is ours now.
            info = self._in_account(client, domain)
        return info, status

    @staticmethod
    def _in_account(client: NameSiloClient, domain: str) -> dict | None:
        try:
            return client.domain_info(domain)
        except NotFound:
            return None

    @staticmethod
    def _live_transfer(client: NameSiloClient, domain: str) -> str | None:
        """The status of a transfer that is under way or done, None if there is none or it failed."""
        try:
            status = client.transfer_status(domain)
        except NotFound:
            return None
        if _FAILED_TRANSFER.search(status):
            log.warning("the transfer of %s ended: %s", domain, status)
            return None
        return status or "Pending"

    @staticmethod
    def _base(props: dict) -> dict:
        # The auth code is a credential for the domain: it stays out of the outputs.
        return {key: props.get(key) for key in INPUTS if key != "auth_code"}

    def _outputs(self, props: dict, info: dict) -> dict:
        return {
            **self._base(props),
            "status": str(info.get("status") or ""),
            "expires": info.get("expires"),
            "nameservers": nameservers_of(info),
            "auto_renew": yes(info.get("auto_renew")),
            "locked": yes(info.get("locked")),
            # Observed like auto_renew when it is managed, so a refresh sees drift and the next
            # converge puts the customer's choice back.
            "lock": yes(info.get("locked")) if props.get("lock") is not None else None,
            "private": yes(info.get("private")),
        }

    def _pending_outputs(self, props: dict, status: str) -> dict:
        return {**self._base(props), "status": status, "expires": None, "locked": None}


class DomainRegistration(Resource):
    """A domain registered (or transferred in) through NameSilo; destroy keeps it, auto-renew off."""

    status: pulumi.Output[str]
    expires: pulumi.Output[str]
    nameservers: pulumi.Output[list]
    auto_renew: pulumi.Output[bool]
    locked: pulumi.Output[bool]

    def __init__(self, name: str, *, domain: pulumi.Input[str], mode: pulumi.Input[str] = "new_registration",
                 auth_code: pulumi.Input[str] | None = None, nameservers: pulumi.Input[list] | None = None,
                 years: pulumi.Input[int] = 1, auto_renew: pulumi.Input[bool] = True,
                 lock: pulumi.Input[bool] | None = None,
                 private: pulumi.Input[bool] = True, owner: pulumi.Input[str], takeover: bool | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        """`owner`: the stack (e.g. "sub-42") the domain is claimed for before the registrar call;
        `takeover`: an imported account's domain, already in the registrar account, taken over as it is."""
        props = {"domain": domain, "mode": mode, "auth_code": auth_code, "nameservers": nameservers,
                 "years": years, "auto_renew": auto_renew, "lock": lock, "private": private, "owner": owner,
                 "takeover": takeover,
                 # Outputs only; declared so that they are attributes of the resource.
                 "status": None, "expires": None, "locked": None}
        super().__init__(DomainRegistrationProvider(), name, props, DomainRegistrationProvider.options(opts))
