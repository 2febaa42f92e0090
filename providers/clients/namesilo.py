"""The NameSilo API as mpanel speaks it: `NameSiloClient`.

Requests are `GET <base>/<operation>?version=1&type=json&key=...`; every non-success
`reply.code` becomes a `ProviderError` worded for people (`NotFound` for "not in this
account"). The API key (and a transfer's EPP code) ride in the query string, so no URL with
its query may reach a message, an exception or a log line: the client never formats one,
scrubs upstream text, and urllib3's debug log of request lines is redacted.

Used by the registration provider (providers/resources/domain_registration.py) and by the
services that ask the registrar directly (eligibility, domain state, registrar sync).
"""
from __future__ import annotations

import logging
from typing import Any

from providers.core.config import ProviderConfig
from providers.core.errors import NotFound, ProviderError
from providers.core.http import http, param_value, redact
from providers.core.retry import DEFAULT_RETRY, RetryPolicy

PROVIDER = "namesilo"

LIVE_URL = "https://www.namesilo.com/api"
SANDBOX_URL = "https://sandbox.namesilo.com/api"
SUCCESS = frozenset({300, 301, 302})
RETRYABLE = frozenset({115, 201, 400})


class _RedactQueryStrings(logging.Filter):
    """urllib3 logs each request line, query string and all, at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


_urllib3_log = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _RedactQueryStrings) for f in _urllib3_log.filters):
    _urllib3_log.addFilter(_RedactQueryStrings())


def _message(code: int, detail: str, operation: str, domain: str | None) -> str:
    """What a person needs to read for each code that matters; upstream's detail otherwise."""
    name = domain or "the domain"
    return {
        101: "the API must be called over HTTPS",
        108: f"{operation}: missing parameters",
        110: "invalid API key: check NAMESILO_API_KEY",
        112: "the API key belongs to a sub-account, which cannot use this operation",
        113: "API access is not allowed from this IP address: allow it in NameSilo's API manager",
        114: f"{name}: invalid domain name syntax",
        115: f"the registry is not responding for {name}; try again later",
        119: f"insufficient account balance for {operation} of {name}",
        200: f"domain {name} is not active in this NameSilo account",
        201: "NameSilo internal error; try again later",
        254: f"nameserver update for {name} failed: the nameservers must be registered hosts",
        261: f"domain {name} is not available for registration",
        262: f"domain {name} is already active at NameSilo",
        263: f"invalid number of years for {name}",
        264: f"{name} cannot be renewed for that many years",
        265: f"domain {name} cannot be transferred now (locked, registered or transferred too recently, "
             f"or a transfer is already pending)",
        266: f"no transfer of {name} exists in this account",
        267: f"{name}: invalid domain name or unsupported TLD",
        280: f"DNS modification error for {name}",
        400: "an earlier request is still processing (rate limited); try again",
    }.get(code, f"{operation} failed: {detail}")


class NameSiloClient:
    """The NameSilo API, one operation per method, with the configured endpoint and key."""

    def __init__(self, settings: ProviderConfig, retry: RetryPolicy = DEFAULT_RETRY, timeout: float = 60.0):
        if not settings.NAMESILO_API_KEY:
            raise ProviderError(PROVIDER, "NAMESILO_API_KEY is not set")
        self.base_url = (settings.NAMESILO_API_URL
                         or (SANDBOX_URL if settings.NAMESILO_SANDBOX else LIVE_URL)).rstrip("/")
        self._key = settings.NAMESILO_API_KEY
        self._secrets: set[str] = {self._key}
        self.retry = retry
        self.timeout = timeout

    # -- transport ---------------------------------------------------------------------

    def exchange(self, operation: str, *, domain: str | None = None, ok: tuple[int, ...] = (),
                 **params) -> dict:
        """One request, no retry: the `reply` of an answer whose code is success (or in `ok`)."""
        if params.get("auth"):
            self._secrets.add(str(params["auth"]))  # a transfer's EPP code: scrub it like the key
        query = {"version": "1", "type": "json", "key": self._key}
        if domain is not None:
            query["domain"] = domain
        query.update({k: param_value(v) for k, v in params.items() if v is not None})
        # The URL given to http() has no query: requests adds it, and http() only ever
        # shows the URL it was given.
        response = http(PROVIDER, "GET", f"{self.base_url}/{operation}", params=query, timeout=self.timeout)
        if response.status_code >= 400:
            raise ProviderError(PROVIDER, f"{operation}: upstream answered {response.status_code} "
                                          f"{response.reason}", status=response.status_code)
        try:
            reply = response.json()["reply"]
            code = int(str(reply["code"]).strip())
        except (ValueError, KeyError, TypeError):
            raise ProviderError(PROVIDER, f"{operation}: the answer is not a NameSilo JSON reply",
                                status=response.status_code) from None
        if code in SUCCESS or code in ok:
            reply["code"] = code
            return reply
        detail = self.scrub(str(reply.get("detail") or "no detail"))
        kind = NotFound if code in (200, 266) else ProviderError
        raise kind(PROVIDER, self.scrub(_message(code, detail, operation, domain)), code=code,
                   retryable=code in RETRYABLE)

    def call(self, operation: str, **kwargs) -> dict:
        """A request that is safe to repeat, retried on transient failures."""
        return self.retry.run(lambda: self.exchange(operation, **kwargs))

    def scrub(self, text: str) -> str:
        text = redact(text)
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "REDACTED")
        return text

    # -- operations ----------------------------------------------------------------------

    def domain_info(self, domain: str) -> dict:
        """The registration in our account, or NotFound."""
        return self.call("getDomainInfo", domain=domain)

    def list_domains(self, page_size: int = 500) -> list[str]:
        """Every domain in the registrar account, page by page."""
        names: list[str] = []
        page = 1
        while True:
            reply = self.call("listDomains", page=page, pageSize=page_size)
            found = (reply.get("domains") or {}) if isinstance(reply.get("domains"), dict) else reply.get("domains")
            if isinstance(found, dict):  # the live API wraps them: {"domain": [...]}
                found = found.get("domain") or []
            if isinstance(found, (str, dict)):
                found = [found]
            batch = [str(d.get("domain") if isinstance(d, dict) else d).lower() for d in (found or [])]
            names += batch
            pager = reply.get("pager") or {}
            total = int(pager.get("total") or 0)
            if not batch or len(names) >= total:
                return names
            page += 1

    def availability(self, domain: str) -> str:
        """ "available", "unavailable" or "invalid" (a missing group means empty)."""
        reply = self.call("checkRegisterAvailability", domains=domain)
        for group in ("available", "unavailable", "invalid"):
            names = reply.get(group) or []
            if isinstance(names, (str, dict)):
                names = [names]
            if any((n.get("domain") if isinstance(n, dict) else n) == domain for n in names):
                return group
        return "unavailable"

    def register(self, domain: str, *, years: int, nameservers: list[str], private: bool,
                 auto_renew: bool) -> dict:
        """One attempt, never retried here: it charges the account."""
        ns = {f"ns{i}": name for i, name in enumerate(nameservers, start=1)}
        return self.exchange("registerDomain", domain=domain, years=years, private=private,
                             auto_renew=auto_renew, **ns)

    def transfer(self, domain: str, *, auth_code: str, private: bool, auto_renew: bool) -> dict:
        """One attempt, never retried here: it charges the account."""
        return self.exchange("transferDomain", domain=domain, auth=auth_code, private=private,
                             auto_renew=auto_renew)

    def transfer_status(self, domain: str) -> str:
        """The transfer's status text, or NotFound (266) when there is none."""
        return str(self.call("checkTransferStatus", domain=domain).get("status") or "")

    def change_nameservers(self, domain: str, nameservers: list[str]) -> None:
        self.call("changeNameServers", domain=domain,
                  **{f"ns{i}": name for i, name in enumerate(nameservers, start=1)})

    def set_auto_renew(self, domain: str, enabled: bool) -> None:
        # 250/251: it already was; there is no setAutoRenewal upstream.
        if enabled:
            self.call("addAutoRenewal", domain=domain, ok=(250,))
        else:
            self.call("removeAutoRenewal", domain=domain, ok=(251,))

    def set_lock(self, domain: str, locked: bool) -> None:
        # 252/253: it already was.
        if locked:
            self.call("domainLock", domain=domain, ok=(252,))
        else:
            self.call("domainUnlock", domain=domain, ok=(253,))

    def send_auth_code(self, domain: str) -> None:
        """Have NameSilo email the domain's EPP transfer code to the registrant (retrieveAuthCode,
        *unconfirmed*: not in the contract). The code never reaches us, so it cannot leak here."""
        self.call("retrieveAuthCode", domain=domain)


# --- what getDomainInfo answers -------------------------------------------------------------

def yes(value: Any) -> bool:
    """getDomainInfo flags are "Yes"/"No" strings; tolerate booleans and 0/1."""
    return str(value).strip().lower() in {"yes", "true", "1"}


def nameservers_of(info: dict) -> list[str]:
    """The nameservers of a getDomainInfo reply, in their order, bare."""
    entries = info.get("nameservers") or []
    if isinstance(entries, dict):
        entries = [entries]
    ordered = sorted(entries, key=lambda e: int(e.get("position") or 0) if isinstance(e, dict) else 0)
    names = [(e.get("nameserver") if isinstance(e, dict) else e) for e in ordered]
    return [str(n).lower().rstrip(".") for n in names if n]
