"""cPanel accounts: create, remove, suspend, change package or password, and read back."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from argon2 import PasswordHasher

from ..common.names import is_hostname
from ..common.state import StateStore, TableView
from .api import Done, Params, WhmFailure, find_account, required
from .packages import limit, limit_text

# System users a real server already has; WHM refuses them as account names.
RESERVED_USERNAMES = frozenset({
    "all", "cpanel", "cphulkd", "dovecot", "ftp", "mail", "mailman", "mysql", "named",
    "nobody", "postgres", "root", "virtfs", "www",
})
USERNAME_CHARS = re.compile(r"^[a-z0-9]+$")
MIN_PASSWORD_LENGTH = 8
SEARCH_TYPES = {"domain": "domain", "owner": "owner", "user": "user", "ip": "ip", "package": "plan"}

# Argon2id with small costs: these passwords are test data, but the state file must
# still never hold one in the clear, and tests create many accounts.
_hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


class Accounts:
    store: StateStore
    home_root: Path
    api_user: str
    server_ip: str
    nameservers: tuple[str, ...]
    now: Callable[[], float]

    def createacct(self, params: Params) -> Done:
        username = required(params, "username")
        domain = params.get("domain", "").strip().lower()
        password = params.get("password", "")
        with self.store.change() as state:
            accounts = state["accounts"]
            _check_username(username, accounts)
            if not domain:
                raise WhmFailure("You must specify a domain name for the new account.")
            if not is_hostname(domain):
                raise WhmFailure(f"“{domain}” is not a valid domain name.")
            if accounts.first(domain=domain) is not None:
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
                "quota_mb": limit(params, "quota", package["quota_mb"]),
                "bwlimit_mb": limit(params, "bwlimit", package["bwlimit_mb"]),
                "maxpop": limit(params, "maxpop", package["maxpop"]),
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
            account = find_account(state, username)
            state["ssl"].delete_where(user=username)
            state["sessions"].delete_where(user=username)
            del state["accounts"][username]
        shutil.rmtree(self._home(username), ignore_errors=True)
        return Done(reason=f"{account['user']} account removed")

    def suspendacct(self, params: Params) -> Done:
        username = required(params, "user")
        with self.store.change() as state:
            account = find_account(state, username)
            account["suspended"] = True
            account["suspendreason"] = params.get("reason") or "No reason given"
            account["suspendtime"] = int(self.now())
        return Done(reason=f"Account “{username}” has been suspended.")

    def unsuspendacct(self, params: Params) -> Done:
        username = required(params, "user")
        with self.store.change() as state:
            account = find_account(state, username)
            account["suspended"] = False
            account["suspendreason"] = ""
            account["suspendtime"] = None
        return Done(reason=f"Account “{username}” has been unsuspended.")

    def changepackage(self, params: Params) -> Done:
        username = required(params, "user")
        plan = required(params, "pkg")
        with self.store.change() as state:
            account = find_account(state, username)
            package = state["packages"].get(plan)
            if package is None:
                raise WhmFailure(f"The package “{plan}” does not exist.")
            # Changing package applies the package's limits, as WHM does.
            account.update(plan=plan, quota_mb=package["quota_mb"],
                           bwlimit_mb=package["bwlimit_mb"], maxpop=package["maxpop"])
        return Done(reason="Account Upgraded/Downgraded")

    def passwd(self, params: Params) -> Done:
        username = required(params, "user")
        password = params.get("password", "")
        with self.store.change() as state:
            account = find_account(state, username)
            _check_password(password)
            account["password_hash"] = _hasher.hash(password)
        return Done(reason=f"Password changed for user {username}")

    def accountsummary(self, params: Params) -> Done:
        username, domain = params.get("user", ""), params.get("domain", "").lower()
        if not username and not domain:
            raise WhmFailure("You must specify either the “user” or the “domain” parameter.")
        with self.store.view() as state:
            if username:
                account = find_account(state, username)
            else:
                account = state["accounts"].first(domain=domain)
                if account is None:
                    raise WhmFailure(f"No account owns the domain “{domain}”.")
        return Done({"acct": [self._summary(account)]})

    def listaccts(self, params: Params) -> Done:
        search = params.get("search", "")
        with self.store.view() as state:
            if search:
                accounts = _search(state["accounts"], search, params.get("searchtype", "domain"),
                                   params.get("searchmethod", "regex"))
            else:
                accounts = state["accounts"].values()
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
            account = find_account(state, username)
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
        with self.store.view() as state:
            usernames = list(state["accounts"])
        for username in usernames:
            shutil.rmtree(self._home(username), ignore_errors=True)

    def _home(self, username: str) -> Path:
        return self.home_root / username

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
            "maxpop": limit_text(account["maxpop"]),
            "startdate": time.strftime("%y %b %d %H:%M", time.gmtime(account["startdate"])),
            "unix_startdate": account["startdate"],
            "partition": "home",
            "theme": "jupiter",
            "shell": "/usr/local/cpanel/bin/noshell",
        }


def _check_username(username: str, accounts: TableView) -> None:
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
    # Database and mail prefixes use the first 8 characters, so WHM keeps them unique.
    other = accounts.first(prefix8=username[:8])
    if other is not None:
        raise WhmFailure(
            f"That username is taken: its first 8 characters match the existing user “{other['user']}”."
        )


def _check_password(password: str) -> None:
    if not password:
        raise WhmFailure("You must specify a password.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WhmFailure(
            "Sorry, the password you selected cannot be used because it is too weak and would be "
            f"too easy to guess. Use at least {MIN_PASSWORD_LENGTH} characters."
        )


def _search(accounts: TableView, search: str, searchtype: str, method: str) -> list:
    key = SEARCH_TYPES.get(searchtype)
    if key is None:
        raise WhmFailure(f"The search type “{searchtype}” is not valid; use one of: {', '.join(SEARCH_TYPES)}.")
    if method == "exact":
        # The lookups clients adopt by (user, domain) are indexed; the rest are rare.
        if key == "user":
            found = accounts.get(search)
            return [] if found is None else [found]
        if key == "domain":
            return accounts.where(domain=search.lower())  # domains are stored lower-case
        return [a for a in accounts.values() if a[key] == search]
    if method != "regex":
        raise WhmFailure(f"The search method “{method}” is not valid; use “exact” or “regex”.")
    # The default is a regex, so "shop" also finds "shop2": adopting by lookup must
    # ask for searchmethod=exact.
    try:
        pattern = re.compile(search, re.IGNORECASE)
    except re.error as exc:
        raise WhmFailure(f"The search pattern is not a valid regular expression: {exc}.") from None
    return [a for a in accounts.values() if pattern.search(str(a[key]))]


def _disk_used_mb(home: Path) -> int:
    total = 0
    for root, _, files in os.walk(home):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # a file removed while we walk
    return total // (1024 * 1024)
