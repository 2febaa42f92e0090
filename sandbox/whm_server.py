"""The hosting server behind the WHM stand-in: accounts, packages, TLS, sessions.

Every public method implements one WHM API 1 function. It takes the request's
parameters (a mapping of strings, as WHM receives them) and returns a ``Done`` or
raises ``WhmFailure`` with the human reason WHM would give. The HTTP layer
(``sandbox.whm``) wraps both in the envelope; nothing here knows about HTTP.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from argon2 import PasswordHasher

from .hostnames import is_hostname
from .state import Document, JsonStateStore
from .whm_ssl import CertificateRejected, covers, inspect_pair

Params = Mapping[str, str]

SEED_PACKAGES = {
    # name: (quota MB, bandwidth MB, mailboxes); 0 means unlimited, as in WHM.
    "mpanel_student": (5120, 51200, 5),
    "mpanel_starter": (20480, 204800, 25),
    "mpanel_business": (51200, 0, 100),
}

# System users a real server already has; WHM refuses them as account names.
RESERVED_USERNAMES = frozenset({
    "all", "cpanel", "cphulkd", "dovecot", "ftp", "mail", "mailman", "mysql", "named",
    "nobody", "postgres", "root", "virtfs", "www",
})
USERNAME_CHARS = re.compile(r"^[a-z0-9]+$")
MIN_PASSWORD_LENGTH = 8
SESSION_SERVICES = {"cpaneld": 2083, "webmaild": 2096}
SESSION_LIFETIME_SECONDS = 300
SEARCH_TYPES = {"domain": "domain", "owner": "owner", "user": "user", "ip": "ip", "package": "plan"}

# Argon2id with small costs: these passwords are test data, but the state file must
# still never hold one in the clear, and tests create many accounts.
_hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


class WhmFailure(Exception):
    """A function failed: HTTP 200, metadata.result 0, this reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Done:
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = "OK"
    raw: str = ""


def initial_state() -> Document:
    return {
        "schema": 1,
        "accounts": {},
        "packages": {
            name: {"name": name, "quota_mb": quota, "bwlimit_mb": bw, "maxpop": pop}
            for name, (quota, bw, pop) in SEED_PACKAGES.items()
        },
        "ssl": {},
        "sessions": {},
    }


class WhmServer:
    def __init__(
        self,
        store: JsonStateStore,
        home_root: Path,
        api_user: str,
        server_ip: str = "192.0.2.10",
        nameservers: tuple[str, ...] = ("ns1.mpanel.test", "ns2.mpanel.test"),
        now: Callable[[], float] = time.time,
    ):
        self.store = store
        self.home_root = home_root
        self.api_user = api_user
        self.server_ip = server_ip
        self.nameservers = nameservers
        self.now = now

    # -- accounts ------------------------------------------------------------

    def createacct(self, params: Params) -> Done:
        username = _required(params, "username")
        domain = params.get("domain", "").strip().lower()
        password = params.get("password", "")
        with self.store.change() as state:
            accounts = state["accounts"]
            _check_username(username, accounts)
            if not domain:
                raise WhmFailure("You must specify a domain name for the new account.")
            if not is_hostname(domain):
                raise WhmFailure(f"“{domain}” is not a valid domain name.")
            if any(acct["domain"] == domain for acct in accounts.values()):
                raise WhmFailure(f"The domain “{domain}” already exists on this server.")
            plan = params.get("plan", "")
            if not plan:
                raise WhmFailure("You must specify a package (plan) for the new account.")
            package = state["packages"].get(plan)
            if package is None:
                raise WhmFailure(f"The package “{plan}” does not exist.")
            _check_password(password)
            email = params.get("contactemail", "")
            if email and "@" not in email:
                raise WhmFailure(f"“{email}” is not a valid contact email address.")
            accounts[username] = {
                "user": username,
                "domain": domain,
                "plan": plan,
                "owner": self.api_user,
                "email": email,
                "ip": self.server_ip,
                "suspended": False,
                "suspendreason": "",
                "suspendtime": None,
                "quota_mb": _limit(params, "quota", package["quota_mb"]),
                "bwlimit_mb": _limit(params, "bwlimit", package["bwlimit_mb"]),
                "maxpop": _limit(params, "maxpop", package["maxpop"]),
                "password_hash": _hasher.hash(password),
                "startdate": int(self.now()),
            }
            # Later an SSH server publishes sites here, as into a real cPanel home.
            (self._home(username) / "public_html").mkdir(parents=True, exist_ok=True)
        data = {"ip": self.server_ip, "package": plan, "nameserverentry": None}
        for index in range(4):
            suffix = "" if index == 0 else str(index + 1)
            ns = self.nameservers[index] if index < len(self.nameservers) else None
            data[f"nameserver{suffix}"] = ns
            data[f"nameservera{suffix}"] = None
        raw = (
            f"Creating account {username} for {domain} on package {plan}\n"
            f"Home directory {self._home(username)} created\nAccount Creation Complete\n"
        )
        return Done(data, reason="Account Creation Ok", raw=raw)

    def removeacct(self, params: Params) -> Done:
        # Older clients send ``user``; WHM API 1 documents ``username``.
        username = params.get("username") or params.get("user") or ""
        if not username:
            raise WhmFailure("The “username” parameter is required.")
        with self.store.change() as state:
            account = _account(state, username)
            state["ssl"] = {d: rec for d, rec in state["ssl"].items() if rec["user"] != username}
            state["sessions"] = {k: s for k, s in state["sessions"].items() if s["user"] != username}
            del state["accounts"][username]
        shutil.rmtree(self._home(username), ignore_errors=True)
        return Done(reason=f"{account['user']} account removed")

    def suspendacct(self, params: Params) -> Done:
        username = _required(params, "user")
        with self.store.change() as state:
            account = _account(state, username)
            account["suspended"] = True
            account["suspendreason"] = params.get("reason") or "No reason given"
            account["suspendtime"] = int(self.now())
        return Done(reason=f"Account “{username}” has been suspended.")

    def unsuspendacct(self, params: Params) -> Done:
        username = _required(params, "user")
        with self.store.change() as state:
            account = _account(state, username)
            account["suspended"] = False
            account["suspendreason"] = ""
            account["suspendtime"] = None
        return Done(reason=f"Account “{username}” has been unsuspended.")

    def changepackage(self, params: Params) -> Done:
        username = _required(params, "user")
        plan = _required(params, "pkg")
        with self.store.change() as state:
            account = _account(state, username)
            package = state["packages"].get(plan)
            if package is None:
                raise WhmFailure(f"The package “{plan}” does not exist.")
            # Changing package applies the package's limits, as WHM does.
            account.update(plan=plan, quota_mb=package["quota_mb"],
                           bwlimit_mb=package["bwlimit_mb"], maxpop=package["maxpop"])
        return Done(reason="Account Upgraded/Downgraded")

    def passwd(self, params: Params) -> Done:
        username = _required(params, "user")
        password = params.get("password", "")
        with self.store.change() as state:
            account = _account(state, username)
            _check_password(password)
            account["password_hash"] = _hasher.hash(password)
        return Done(reason=f"Password changed for user {username}")

    def accountsummary(self, params: Params) -> Done:
        username, domain = params.get("user", ""), params.get("domain", "").lower()
        if not username and not domain:
            raise WhmFailure("You must specify either the “user” or the “domain” parameter.")
        state = self.store.read()
        if username:
            account = _account(state, username)
        else:
            account = next((a for a in state["accounts"].values() if a["domain"] == domain), None)
            if account is None:
                raise WhmFailure(f"No account owns the domain “{domain}”.")
        return Done({"acct": [self._summary(account)]})

    def listaccts(self, params: Params) -> Done:
        accounts = list(self.store.read()["accounts"].values())
        search = params.get("search", "")
        if search:
            accounts = _search(accounts, search, params.get("searchtype", "domain"),
                               params.get("searchmethod", "regex"))
        accounts.sort(key=lambda a: a["user"])
        return Done({"acct": [self._summary(a) for a in accounts]})

    def update_account(self, username: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change an account behind the client's back (control API), to create drift."""
        allowed = {"plan", "suspended", "suspendreason", "domain", "email", "owner", "ip",
                   "quota", "bwlimit", "maxpop"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}; allowed: {sorted(allowed)}")
        with self.store.change() as state:
            account = _account(state, username)
            for name, value in changes.items():
                if name in ("quota", "bwlimit"):
                    account[f"{name}_mb"] = int(value)
                elif name == "maxpop":
                    account["maxpop"] = int(value)
                elif name == "suspended":
                    account["suspended"] = bool(value)
                    if value:
                        account["suspendreason"] = account["suspendreason"] or "No reason given"
                        account["suspendtime"] = account["suspendtime"] or int(self.now())
                    else:
                        account["suspendreason"], account["suspendtime"] = "", None
                else:
                    account[name] = str(value).lower() if name == "domain" else value
            return self._summary(account)

    def remove_all_homes(self) -> None:
        for username in self.store.read()["accounts"]:
            shutil.rmtree(self._home(username), ignore_errors=True)

    # -- packages --------------------------------------------------------------

    def listpkgs(self, params: Params) -> Done:
        packages = sorted(self.store.read()["packages"].values(), key=lambda p: p["name"])
        return Done({"pkg": [_package_view(p) for p in packages]})

    def addpkg(self, params: Params) -> Done:
        name = _required(params, "name")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            raise WhmFailure(f"“{name}” is not a valid package name.")
        with self.store.change() as state:
            if name in state["packages"]:
                raise WhmFailure(f"The package “{name}” already exists.")
            state["packages"][name] = {
                "name": name,
                "quota_mb": _limit(params, "quota", 0),
                "bwlimit_mb": _limit(params, "bwlimit", 0),
                "maxpop": _limit(params, "maxpop", 0),
            }
        return Done({"pkg": name}, reason=f"Created the package {name}.")

    # -- TLS -------------------------------------------------------------------

    def installssl(self, params: Params) -> Done:
        domain = _required(params, "domain").lower()
        crt, key = _required(params, "crt"), _required(params, "key")
        with self.store.change() as state:
            account = self._account_for_domain(state, domain)
            try:
                record = inspect_pair(domain, crt, key, params.get("cab", ""))
            except CertificateRejected as exc:
                raise WhmFailure(str(exc)) from None
            previous = state["ssl"].get(domain, {})
            record.update(domain=domain, user=account["user"], installed=int(self.now()),
                          redirect=previous.get("redirect", False))
            state["ssl"][domain] = record
        message = (f"The SSL certificate is now installed onto the domain “{domain}” "
                   f"using the IP address “{account['ip']}”.")
        return Done({
            "status": 1, "statusmsg": message, "message": message, "domain": domain,
            "user": account["user"], "ip": account["ip"], "servername": domain,
            "cert_id": record["cert_id"], "key_id": record["key_id"],
            "working_domains": [d for d in (domain, f"www.{domain}") if covers(record["subject_names"], d)],
            "warning_domains": [],
        })

    def fetchsslinfo(self, params: Params) -> Done:
        domain = _required(params, "domain").lower()
        record = self.store.read()["ssl"].get(domain)
        if record is None:
            raise WhmFailure(f"No SSL certificate is installed for “{domain}”.")
        return Done({
            "domain": domain, "user": record["user"], "crt": record["crt"], "key": record["key"],
            "cab": record["cab"], "cert_id": record["cert_id"], "key_id": record["key_id"],
            "not_after": record["not_after"], "subject_names": record["subject_names"],
            "ssl_redirect": int(record["redirect"]),
        })

    # -- sessions and UAPI -------------------------------------------------------

    def create_user_session(self, params: Params, base_url: str) -> Done:
        username = _required(params, "user")
        service = _required(params, "service")
        if service not in SESSION_SERVICES:
            raise WhmFailure(f"The service “{service}” is not valid; use one of: {', '.join(SESSION_SERVICES)}.")
        token = secrets.token_hex(16)
        security_token = "/cpsess" + "".join(secrets.choice("0123456789") for _ in range(10))
        now = int(self.now())
        with self.store.change() as state:
            _account(state, username)
            state["sessions"] = {k: s for k, s in state["sessions"].items() if s["expires"] > now}
            # Only a digest is kept: the link itself is a credential.
            state["sessions"][_digest(token)] = {
                "user": username, "service": service, "expires": now + SESSION_LIFETIME_SECONDS,
                "used": False,
            }
        session = f"{username}:{token}"
        # The link points back at this stand-in (not at :2083) so a test can follow it.
        url = f"{base_url.rstrip('/')}{security_token}/login/?session={session}"
        return Done({"url": url, "session": session, "service": service,
                     "cp_security_token": security_token,
                     "expires": now + SESSION_LIFETIME_SECONDS})

    def consume_session(self, session: str) -> str | None:
        """The user a one-time login link logs in, or None once used or expired."""
        _, _, token = session.partition(":")
        with self.store.change() as state:
            record = state["sessions"].get(_digest(token))
            if record is None or record["used"] or record["expires"] <= self.now():
                return None
            record["used"] = True
            return record["user"]

    def uapi_cpanel(self, params: Params) -> Done:
        username = _required(params, "cpanel.user")
        module = _required(params, "cpanel.module")
        function = _required(params, "cpanel.function")
        _account(self.store.read(), username)
        if (module, function) != ("SSL", "toggle_ssl_redirect_for_domains"):
            # The UAPI call failed but the WHM call that carried it succeeded: real
            # WHM reports that as result 1 with uapi.status 0.
            return Done({"uapi": _uapi(errors=[f"The sandbox does not implement UAPI {module}::{function}."])})
        try:
            changed = self._toggle_ssl_redirect(username, params)
        except WhmFailure as exc:
            return Done({"uapi": _uapi(errors=[exc.reason])})
        return Done({"uapi": _uapi(data=changed)})

    def _toggle_ssl_redirect(self, username: str, params: Params) -> list[dict[str, Any]]:
        domains = [d.strip().lower() for d in params.get("domains", "").split(",") if d.strip()]
        state_param = params.get("state", "")
        if not domains or state_param not in ("0", "1"):
            raise WhmFailure("You must specify “domains” and a “state” of 0 or 1.")
        enable = state_param == "1"
        with self.store.change() as state:
            owned = {a["domain"] for a in state["accounts"].values() if a["user"] == username}
            for domain in domains:
                if domain not in owned:
                    raise WhmFailure(f"You do not own the domain “{domain}”.")
                record = state["ssl"].get(domain)
                if enable and (record is None or record["not_after"] <= self.now()):
                    raise WhmFailure(f"The domain “{domain}” does not have a valid SSL certificate installed.")
                if record is not None:
                    record["redirect"] = enable
        return [{"domain": d, "state": int(enable)} for d in domains]

    # -- helpers -----------------------------------------------------------------

    def _home(self, username: str) -> Path:
        return self.home_root / username

    def _account_for_domain(self, state: Document, domain: str) -> dict[str, Any]:
        for account in state["accounts"].values():
            if account["domain"] == domain:
                return account
        raise WhmFailure(f"No account owns the domain “{domain}”.")

    def _summary(self, account: dict[str, Any]) -> dict[str, Any]:
        """The account as accountsummary and listaccts show it (no password hash)."""
        quota = account["quota_mb"]
        return {
            "user": account["user"],
            "domain": account["domain"],
            "plan": account["plan"],
            "owner": account["owner"],
            "email": account["email"],
            "ip": account["ip"],
            "suspended": int(account["suspended"]),
            "suspendreason": account["suspendreason"] if account["suspended"] else "not suspended",
            "suspendtime": account["suspendtime"],
            # WHM reports sizes as strings with a unit, and 0 as "unlimited".
            "diskused": f"{_disk_used_mb(self._home(account['user']))}M",
            "disklimit": f"{quota}M" if quota else "unlimited",
            "maxpop": _limit_text(account["maxpop"]),
            "startdate": time.strftime("%y %b %d %H:%M", time.gmtime(account["startdate"])),
            "unix_startdate": account["startdate"],
            "partition": "home",
            "theme": "jupiter",
            "shell": "/usr/local/cpanel/bin/noshell",
        }


def _required(params: Params, name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise WhmFailure(f"The “{name}” parameter is required.")
    return value


def _account(state: Document, username: str) -> dict[str, Any]:
    account = state["accounts"].get(username)
    if account is None:
        raise WhmFailure(f"The account “{username}” does not exist.")
    return account


def _check_username(username: str, accounts: dict[str, Any]) -> None:
    if not USERNAME_CHARS.match(username):
        raise WhmFailure(f"The username “{username}” is invalid: use only lower-case letters and digits.")
    if username[0].isdigit():
        raise WhmFailure(f"The username “{username}” is invalid: it must not begin with a digit.")
    if username.startswith("test"):
        raise WhmFailure(f"The username “{username}” is invalid: it must not begin with “test”.")
    if len(username) > 16:
        raise WhmFailure(f"The username “{username}” is invalid: it must be 16 characters or fewer.")
    if username in RESERVED_USERNAMES:
        raise WhmFailure(f"The username “{username}” is reserved by the system.")
    if username in accounts:
        raise WhmFailure("That username is taken.")
    for other in accounts:
        # Database and mail prefixes use the first 8 characters, so WHM keeps them unique.
        if other[:8] == username[:8]:
            raise WhmFailure(
                f"That username is taken: its first 8 characters match the existing user “{other}”."
            )


def _check_password(password: str) -> None:
    if not password:
        raise WhmFailure("You must specify a password.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WhmFailure(
            "Sorry, the password you selected cannot be used because it is too weak and would be "
            f"too easy to guess. Use at least {MIN_PASSWORD_LENGTH} characters."
        )


def _limit(params: Params, name: str, default: int) -> int:
    """A size or count limit in WHM's form: a number, or "unlimited" (stored as 0)."""
    value = params.get(name, "")
    if value == "":
        return default
    if value.lower() == "unlimited":
        return 0
    if not value.isdigit():
        raise WhmFailure(f"The “{name}” parameter must be a whole number or “unlimited”.")
    return int(value)


def _limit_text(value: int) -> str:
    return str(value) if value else "unlimited"


def _package_view(package: dict[str, Any]) -> dict[str, Any]:
    # listpkgs uses upper-case keys and string values: a quirk clients must handle.
    return {
        "name": package["name"],
        "QUOTA": _limit_text(package["quota_mb"]),
        "BWLIMIT": _limit_text(package["bwlimit_mb"]),
        "MAXPOP": _limit_text(package["maxpop"]),
        "FEATURELIST": "default",
    }


def _search(accounts: list[dict[str, Any]], search: str, searchtype: str, method: str) -> list:
    key = SEARCH_TYPES.get(searchtype)
    if key is None:
        raise WhmFailure(f"The search type “{searchtype}” is not valid; use one of: {', '.join(SEARCH_TYPES)}.")
    if method == "exact":
        if key == "domain":
            search = search.lower()  # domains are stored lower-case
        return [a for a in accounts if a[key] == search]
    if method != "regex":
        raise WhmFailure(f"The search method “{method}” is not valid; use “exact” or “regex”.")
    # The default is a regex, so "shop" also finds "shop2": adopting by lookup must
    # ask for searchmethod=exact.
    try:
        pattern = re.compile(search, re.IGNORECASE)
    except re.error as exc:
        raise WhmFailure(f"The search pattern is not a valid regular expression: {exc}.") from None
    return [a for a in accounts if pattern.search(str(a[key]))]


def _uapi(data: Any = None, errors: list[str] | None = None) -> dict[str, Any]:
    # Real UAPI sends null, not [], when there are no errors or messages.
    return {"status": 0 if errors else 1, "data": data, "errors": errors or None,
            "messages": None, "warnings": None, "metadata": {}}


def _disk_used_mb(home: Path) -> int:
    total = 0
    for root, _, files in os.walk(home):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # a file removed while we walk
    return total // (1024 * 1024)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
