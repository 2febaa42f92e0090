"""WHM API 1 as mpanel speaks it: `WhmClient` and the client of an account's own server.

Calls go to `/json-api/<function>?api.version=1` with the header
`Authorization: whm <user>:<token>`. A failed function is HTTP 200 with `metadata.result: 0`
and a human `reason` (then no `data`); only bad credentials are an HTTP status (403). Every
failure becomes a `ProviderError` (`NotFound` for "no such object"), retryable when WHM's
wording says to try again. Also here: what WHM accepts as an account name (and the name
derived from a domain), its password strength, and how it writes sizes and certificates.
Used by the account and certificate providers (providers/resources/whm_account.py,
whm_ssl.py) and by the services that call WHM directly (one-click login, backups, moves).
"""
from __future__ import annotations

import re
import secrets
import string
from typing import Any
from urllib.parse import urlsplit

from providers.core.config import ProviderConfig, current
from providers.core.errors import NotFound, ProviderError
from providers.core.http import http, param_value
from providers.core.retry import DEFAULT_RETRY, RetryPolicy

PROVIDER = "whm"

# WHM reasons are prose; these are the phrasings that mean "no such object" and
# "try again later". Anything else with result 0 is a permanent failure.
_NOT_FOUND = re.compile(
    r"does not exist|doesn.t exist|no such|not found|could not find|cannot find|no account owns"
    r"|no ssl certificate is installed|is not installed",
    re.IGNORECASE,
)
_TRANSIENT = re.compile(r"try again|temporarily|timed out|time out|is busy|in progress|lock file",
                        re.IGNORECASE)


# WHM allows 16 characters, but with database prefixing (the default) only the first 8
# are usable, and WHM keeps those unique: derived names stay within 8.
DERIVED_USERNAME_LENGTH = 8
MAX_USERNAME_LENGTH = 16
USERNAME = re.compile(r"^[a-z][a-z0-9]*$")
# System users every cPanel server already has; WHM refuses them as account names.
RESERVED_USERNAMES = frozenset({
    "all", "cpanel", "cphulkd", "dovecot", "ftp", "mail", "mailman", "mysql", "named",
    "nobody", "postgres", "root", "virtfs", "www",
})
# Second-level labels under a country code that say nothing about the customer
# (example.co.uk should give "example", not "exampleco").
GENERIC_SECOND_LEVEL = frozenset({"ac", "co", "com", "edu", "gov", "net", "org"})


# --- names, passwords, sizes: what WHM accepts and answers --------------------------------

def username_problem(username: str, max_length: int = MAX_USERNAME_LENGTH) -> str | None:
    """Why WHM would refuse this account name, or None."""
    if not isinstance(username, str) or not USERNAME.match(username):
        return "use lower-case letters and digits only, starting with a letter"
    if username.startswith("test"):
        return "must not start with 'test'"
    if len(username) > max_length:
        return f"at most {max_length} characters"
    if username in RESERVED_USERNAMES:
        return "is a system user name"
    return None


def username_stem(domain: str) -> str:
    """The name WHM would accept that reads most like the domain (before collisions)."""
    labels = domain.lower().split(".")
    if len(labels) > 2 and len(labels[-1]) == 2 and labels[-2] in GENERIC_SECOND_LEVEL:
        labels = labels[:-1]
    stem = re.sub(r"[^a-z0-9]", "", "".join(labels[:-1] or labels))
    if not stem or stem[0].isdigit() or stem.startswith("test"):
        stem = "u" + stem
    return stem[:DERIVED_USERNAME_LENGTH]


def derive_username(domain: str, existing: list[str]) -> str:
    """The stem, or the stem with a number when its first 8 characters are someone else's."""
    taken = {user[:DERIVED_USERNAME_LENGTH] for user in existing}
    stem = username_stem(domain)
    number = 0
    while True:
        suffix = str(number) if number else ""
        candidate = stem[:DERIVED_USERNAME_LENGTH - len(suffix)] + suffix
        if candidate[:DERIVED_USERNAME_LENGTH] not in taken and candidate not in RESERVED_USERNAMES:
            return candidate
        number += 1


def new_password(length: int = 24) -> str:
    """Strong enough for WHM's strength meter: every character class, no quoting trouble."""
    alphabet = string.ascii_letters + string.digits + "!@#%^*-_=+"
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        if (any(c.islower() for c in password) and any(c.isupper() for c in password)
                and any(c.isdigit() for c in password) and any(not c.isalnum() for c in password)):
            return password


def megabytes(limit: Any) -> int | None:
    """WHM's "5120M" / "unlimited" as a number of MB (None for unlimited)."""
    text = str(limit or "").strip().upper()
    match = re.fullmatch(r"(\d+)\s*M?", text)
    return int(match.group(1)) if match else None


def normal_pem(text: Any) -> str:
    """PEM text compared line by line, whatever its line ends and surrounding blanks."""
    return "\n".join(line.strip() for line in str(text or "").strip().splitlines() if line.strip())


def account_name(value: Any) -> str:
    """An input rule: an account name WHM accepts."""
    problem = username_problem(value)
    if problem:
        raise ValueError(f"{value!r}: {problem}")
    return value


def server_id(value: Any) -> str | None:
    """A servers.id (as text): which WHM the object lives on; empty means CPANEL_WHM_URL's."""
    if value in (None, ""):
        return None
    text = str(value)
    if not text.isdigit():
        raise ValueError("must be a web server's id")
    return text


# --- the client ------------------------------------------------------------------------

class WhmClient:
    """WHM API 1, one function per method, at the configured endpoint."""

    def __init__(self, settings: ProviderConfig, retry: RetryPolicy = DEFAULT_RETRY, timeout: float = 30.0,
                 create_timeout: float = 180.0):
        if not settings.CPANEL_WHM_URL:
            raise ProviderError(PROVIDER, "CPANEL_WHM_URL is not set")
        if not settings.CPANEL_WHM_API_TOKEN:
            raise ProviderError(PROVIDER, "CPANEL_WHM_API_TOKEN is not set")
        self.base_url = settings.CPANEL_WHM_URL.rstrip("/")
        self._auth = f"whm {settings.CPANEL_WHM_USERNAME or 'root'}:{settings.CPANEL_WHM_API_TOKEN}"
        self._token = settings.CPANEL_WHM_API_TOKEN
        self.retry = retry
        self.timeout = timeout
        self.create_timeout = create_timeout

    @property
    def cpanel_url(self) -> str:
        """Where the customer logs in: cPanel's port on the WHM host."""
        host = urlsplit(self.base_url).hostname or "localhost"
        if ":" in host:
            host = f"[{host}]"
        return f"https://{host}:2083"

    # -- transport ---------------------------------------------------------------------

    def exchange(self, function: str, params: dict[str, Any] | None = None, *, post: bool = False,
                 timeout: float | None = None) -> dict:
        """One request, no retry: the `data` of a successful answer."""
        payload = {"api.version": "1"}
        payload.update({k: param_value(v) for k, v in (params or {}).items() if v is not None})
        # Secrets and certificates go in a POST body, never in a URL that proxies may log.
        kwargs = {"data": payload} if post else {"params": payload}
        response = http(PROVIDER, "POST" if post else "GET", f"{self.base_url}/json-api/{function}",
                        timeout=timeout or self.timeout, headers={"Authorization": self._auth}, **kwargs)
        if response.status_code == 403:
            raise ProviderError(PROVIDER, "access denied: check CPANEL_WHM_API_TOKEN", status=403)
        if response.status_code >= 400:
            raise ProviderError(PROVIDER, f"{function}: upstream answered {response.status_code} "
                                          f"{response.reason}", status=response.status_code)
        try:
            body = response.json()
        except ValueError:
            raise ProviderError(PROVIDER, f"{function}: the answer is not JSON",
                                status=response.status_code) from None
        metadata = body.get("metadata") if isinstance(body, dict) else None
        if not isinstance(metadata, dict):
            raise ProviderError(PROVIDER, f"{function}: not a WHM API 1 answer: {self._scrub(str(body)[:200])}")
        if str(metadata.get("result")) != "1":
            reason = self._scrub(str(metadata.get("reason") or "no reason given"))
            kind = NotFound if _NOT_FOUND.search(reason) else ProviderError
            raise kind(PROVIDER, f"{function}: {reason}", retryable=bool(_TRANSIENT.search(reason)))
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    def call(self, function: str, params: dict[str, Any] | None = None, *, post: bool = False) -> dict:
        """A request that is safe to repeat, retried on transient failures."""
        return self.retry.run(lambda: self.exchange(function, params, post=post))

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "REDACTED") if self._token else text

    # -- accounts ----------------------------------------------------------------------

    def find_account(self, *, user: str | None = None, domain: str | None = None) -> dict | None:
        searchtype, search = ("user", user) if user else ("domain", domain)
        accounts = self.call("listaccts", {"search": search, "searchtype": searchtype,
                                           "searchmethod": "exact"}).get("acct") or []
        return accounts[0] if accounts else None

    def list_accounts(self) -> list[dict]:
        """Every account on the server, one call (the sync report compares them all at once)."""
        return self.call("listaccts").get("acct") or []

    def usernames_starting_with(self, prefix: str) -> list[str]:
        accounts = self.call("listaccts", {"search": "^" + re.escape(prefix), "searchtype": "user",
                                           "searchmethod": "regex"}).get("acct") or []
        return [a["user"] for a in accounts]

    def createacct(self, *, username: str, domain: str, plan: str, password: str,
                   contact_email: str | None, quota_mb: int | None) -> dict:
        """One attempt, never retried here: the caller looks up before trying again."""
        return self.exchange("createacct", {
            "username": username, "domain": domain, "plan": plan, "password": password,
            "contactemail": contact_email, "quota": quota_mb,
        }, post=True, timeout=self.create_timeout)

    def account_summary(self, user: str) -> dict:
        """The account, or NotFound."""
        try:
            accounts = self.call("accountsummary", {"user": user}).get("acct") or []
        except ProviderError as exc:
            # WHM's wording for a missing account varies between versions: ask plainly.
            if (exc.retryable or exc.status is not None or isinstance(exc, NotFound)
                    or self.find_account(user=user) is not None):
                raise
            raise NotFound(PROVIDER, exc.message) from exc
        if not accounts:
            raise NotFound(PROVIDER, f"accountsummary: the account {user} does not exist")
        return accounts[0]

    def removeacct(self, user: str) -> None:
        """Remove the account; one that is already gone counts as removed."""
        try:
            self.call("removeacct", {"username": user}, post=True)
        except ProviderError as exc:
            if exc.retryable or exc.status is not None:
                raise
            if not isinstance(exc, NotFound) and self.find_account(user=user) is not None:
                raise

    def suspendacct(self, user: str, reason: str | None) -> None:
        self.call("suspendacct", {"user": user, "reason": reason or "Suspended by mpanel"}, post=True)

    def unsuspendacct(self, user: str) -> None:
        self.call("unsuspendacct", {"user": user}, post=True)

    def changepackage(self, user: str, plan: str) -> None:
        self.call("changepackage", {"user": user, "pkg": plan}, post=True)

    def editquota(self, user: str, quota_mb: int) -> None:
        self.call("editquota", {"user": user, "quota": quota_mb}, post=True)

    def passwd(self, user: str, password: str) -> None:
        self.call("passwd", {"user": user, "password": password}, post=True)

    def create_user_session(self, user: str, service: str) -> str:
        """A one-time login link for the account's cPanel (`cpaneld`) or Webmail (`webmaild`).
        The link is a credential: sent by POST, returned to the caller only, never logged or
        put in an error; one attempt (a retry would only mint another link)."""
        data = self.exchange("create_user_session", {"user": user, "service": service}, post=True)
        url = data.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ProviderError(PROVIDER, "create_user_session: the answer holds no login link")
        return url

    # -- TLS -------------------------------------------------------------------------------

    def installssl(self, *, domain: str, crt: str, key: str, cab: str | None) -> dict:
        return self.call("installssl", {"domain": domain, "crt": crt, "key": key, "cab": cab or ""}, post=True)

    def fetchsslinfo(self, domain: str) -> dict:
        """What is installed for the domain (with the stand-in's `ssl_redirect`), or NotFound."""
        return self.call("fetchsslinfo", {"domain": domain})

    def uapi(self, user: str, module: str, function: str, **params) -> Any:
        data = self.call("uapi_cpanel", {"cpanel.user": user, "cpanel.module": module,
                                         "cpanel.function": function, **params}, post=True)
        uapi = data.get("uapi") or {}
        if str(uapi.get("status")) != "1":
            errors = "; ".join(str(e) for e in (uapi.get("errors") or [])) or "no reason given"
            kind = NotFound if _NOT_FOUND.search(errors) else ProviderError
            raise kind(PROVIDER, f"{module}::{function}: {self._scrub(errors)}")
        return uapi.get("data")

    def mysql_databases(self, user: str) -> dict[str, list[str]]:
        """The account's MySQL databases, each with the database users that may use it
        (WHM API 1 `list_mysql_databases_and_users`; users sorted, so two servers compare)."""
        listed = self.call("list_mysql_databases_and_users", {"user": user}).get("mysql_databases") or {}
        return {str(name): sorted(str(u) for u in users or []) for name, users in listed.items()}

    def toggle_ssl_redirect(self, user: str, domain: str, enabled: bool) -> None:
        self.uapi(user, "SSL", "toggle_ssl_redirect_for_domains", domains=domain, state=int(enabled))


def whm_client_for(props: dict, retry: RetryPolicy = DEFAULT_RETRY, timeout: float = 30.0,
                   create_timeout: float | None = None) -> WhmClient:
    """The client of the WHM the object's `server` input names (its credentials come from the
    worker's configuration by server id, never from the object's inputs or state)."""
    try:
        config = current().for_whm_server(props.get("server"))
    except KeyError as exc:
        # Retryable: a server registered after this run's configuration was built is known to the next.
        raise ProviderError(PROVIDER, f"{exc.args[0]} (the worker reads the servers table for each run)",
                            retryable=True) from None
    if create_timeout is None:
        return WhmClient(config, retry, timeout)
    return WhmClient(config, retry, timeout, create_timeout)
