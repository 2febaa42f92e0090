"""cPanel accounts: create, remove, suspend, change package or password, and read back."""

from __future__ import annotations

import os
import re
import secrets
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
DEFAULT_PLAN = "default"
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
        # WHM lower-cases the user name; domain, password and plan are optional (a temporary
        # domain, a generated password, the "default" package), as WHM documents.
        username = required(params, "username").strip().lower()
        domain = params.get("domain", "").strip().lower() or self._temporary_domain(username)
        password = _new_password(params)
        plan = params.get("plan", "") or DEFAULT_PLAN
        with self.store.change() as state:
            accounts = state["accounts"]
            _check_username(username, accounts)
            if not is_hostname(domain):
                raise WhmFailure(f"“{domain}” is not a valid domain name.")
            if accounts.first(domain=domain) is not None:
                raise WhmFailure(f"The domain “{domain}” already exists on this server.")
            package = state["packages"].get(plan)
            if package is None:
                raise WhmFailure(f"The package “{plan}” does not exist.")
            _check_password(password)
            email = params.get("contactemail", "")
            if email and "@" not in email:
                raise WhmFailure(f"“{email}” is not a valid contact email address.")
            limits = {"quota_mb": limit(params, "quota", package["quota_mb"]),
                      "bwlimit_mb": limit(params, "bwlimit", package["bwlimit_mb"]),
                      "maxpop": limit(params, "maxpop", package["maxpop"])}
            if params.get("savepkg") == "1" or params.get("pkgname"):
                # "Save the settings as a new package": the account then is on that package.
                plan = params.get("pkgname") or f"{username}_package"
                if plan in state["packages"]:
                    raise WhmFailure(f"The package “{plan}” already exists.")
                state["packages"][plan] = {"name": plan, **limits}
            accounts[username] = {
                "user": username,
                "domain": domain,
                "plan": plan,
                "owner": params.get("owner") or self.api_user,
                "email": email,
                "ip": self.server_ip,
                "suspended": False,
                "suspendreason": "",
                "suspendtime": None,
                **limits,
                "password_hash": _hasher.hash(password),
                "startdate": int(self.now()),
            }
            # Later an SSH server publishes sites here, as into a real cPanel home.
            (self._home(username) / "public_html").mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = {"ip": self.server_ip, "package": plan}
        for index in range(4):
            suffix = "" if index == 0 else str(index + 1)
            data[f"nameserver{suffix}"] = self.nameservers[index] if index < len(self.nameservers) else None
            data[f"nameservera{suffix}"] = None
            data[f"nameserverentry{suffix}"] = None
        shown = password if params.get("showpass", "y") != "n" else ""
        return Done(data, reason="Account Creation Ok",
                    raw=self._new_account_info(username, domain, shown, plan, email, limits["quota_mb"]))

    def _temporary_domain(self, username: str) -> str:
        # cPanel names a temporary domain after the user under a per-server zone.
        return f"{username}.{self.server_ip.replace('.', '-')}.cpanel.site"

    def _new_account_info(self, username: str, domain: str, password: str, plan: str, email: str,
                          quota_mb: int) -> str:
        """WHM's raw createacct output with its "New Account Info" block."""
        names = [self.nameservers[i] if i < len(self.nameservers) else "" for i in range(4)]
        quota = f"{quota_mb} MB" if quota_mb else "unlimited"
        lines = [
            "Checking input data...", "Validating Username......Done", "Validating IP......Done",
            "Validating Contact Email......Done", "WWWAcct 12.6.0 (c) WebPros International, LLC...", "",
            "+===================================+", "| New Account Info                  |",
            "+===================================+",
            f"| Domain: {domain}", f"| Ip: {self.server_ip} (n)", "| HasCgi: y", f"| UserName: {username}",
            f"| PassWord: {password}", "| CpanelMod: jupiter", f"| HomeRoot: {self.home_root}",
            f"| Quota: {quota}",
            *(f"| NameServer{i + 1}: {name}".rstrip() for i, name in enumerate(names)),
            f"| Contact Email: {email}".rstrip(), f"| Package: {plan}", "| Feature List: default",
            "| Language: en", "+===================================+", "...Done",
            "Adding User...Success...Done", f"Home directory {self._home(username)} created",
            "wwwacct creation finished", "Account Creation Complete!!!...Account Creation Ok...Done", "",
        ]
        return "\n".join(lines)

    def removeacct(self, params: Params) -> Done:
        # Older clients send ``user``; WHM API 1 documents ``username``.
        username = params.get("username") or params.get("user") or ""
        if not username:
            raise WhmFailure("The “username” parameter is required.")
        with self.store.change() as state:
            account = find_account(state, username)
            state["ssl"].delete_where(user=username)
            state["sessions"].delete_where(user=username)
            self.drop_account_mysql(state, username)
            del state["accounts"][username]
        shutil.rmtree(self._home(username), ignore_errors=True)
        return Done(reason=f"{account['user']} account removed")

    def suspendacct(self, params: Params) -> Done:
        return self._suspension(params, True, params.get("reason") or "No reason given", int(self.now()),
                                "suspended")

    def unsuspendacct(self, params: Params) -> Done:
        return self._suspension(params, False, "", None, "unsuspended")

    def _suspension(self, params: Params, suspended: bool, reason: str, since: int | None, done: str) -> Done:
        username = required(params, "user")
        with self.store.change() as state:
            account = find_account(state, username)
            account["suspended"] = suspended
            account["suspendreason"] = reason
            account["suspendtime"] = since
        return Done(reason=f"Account “{username}” has been {done}.")

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

    def listsuspended(self, params: Params) -> Done:
        with self.store.view() as state:
            suspended = sorted((a for a in state["accounts"].values() if a["suspended"]), key=lambda a: a["user"])
        return Done({"account": [{
            "user": a["user"], "owner": a["owner"], "reason": a["suspendreason"], "is_locked": 0,
            "unixtime": a["suspendtime"],
            "time": time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(a["suspendtime"] or 0)),
        } for a in suspended]})

    def list_users(self, params: Params) -> Done:
        # The server's cPanel users, with root first as WHM lists it.
        with self.store.view() as state:
            users = sorted(state["accounts"])
        return Done({"users": ["root", *users]})

    def editquota(self, params: Params) -> Done:
        username = required(params, "user")
        quota = params.get("quota", "")
        if quota == "":
            raise WhmFailure("The “quota” parameter is required.")
        with self.store.change() as state:
            account = find_account(state, username)
            account["quota_mb"] = limit(params, "quota", 0)
        return Done(reason=f"Set quota for user {username}.")

    def modifyacct(self, params: Params) -> Done:
        """Change an account's settings: its main domain (``domain``, or WHM API 0's ``DNS``),
        contact email, owner, user name (``newuser``) and limits (``QUOTA``, ``BWLIMIT``, ``MAXPOP``)."""
        username = required(params, "user")
        with self.store.change() as state:
            accounts = state["accounts"]
            account = dict(find_account(state, username))
            domain = (params.get("domain") or params.get("DNS") or "").strip().lower()
            if domain and domain != account["domain"]:
                if not is_hostname(domain):
                    raise WhmFailure(f"“{domain}” is not a valid domain name.")
                if accounts.first(domain=domain) is not None:
                    raise WhmFailure(f"The domain “{domain}” already exists on this server.")
                account["domain"] = domain
            email = params.get("contactemail", params.get("CONTACTEMAIL"))
            if email is not None:
                if email and "@" not in email:
                    raise WhmFailure(f"“{email}” is not a valid contact email address.")
                account["email"] = email
            if params.get("owner"):
                account["owner"] = params["owner"]
            for field, name in (("quota_mb", "QUOTA"), ("bwlimit_mb", "BWLIMIT"), ("maxpop", "MAXPOP")):
                account[field] = limit(params, name, account[field])
            newuser = params.get("newuser", "").strip().lower()
            if newuser and newuser != username:
                _check_username(newuser, accounts, renaming=username)
                del accounts[username]
                account["user"] = newuser
                if self._home(username).exists():
                    self._home(username).rename(self._home(newuser))
                for table in ("ssl", "sessions"):
                    for key, row in list(state[table].items()):
                        if row["user"] == username:
                            state[table][key] = {**row, "user": newuser}
            accounts[account["user"]] = account
        return Done({"newcfg": {"user": account["user"], "domain": account["domain"], "setshell": "no",
                                "cpuser": {"CONTACTEMAIL": account["email"], "OWNER": account["owner"],
                                           "DNS": account["domain"], "PLAN": account["plan"],
                                           "MAXPOP": limit_text(account["maxpop"]),
                                           "BWLIMIT": limit_text(account["bwlimit_mb"])}}},
                    reason="Account Modified")

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


def _check_username(username: str, accounts: TableView, renaming: str = "") -> None:
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
    if other is not None and other["user"] != renaming:
        raise WhmFailure(
            f"That username is taken: its first 8 characters match the existing user “{other['user']}”."
        )


def _new_password(params: Params) -> str:
    """createacct's ``password`` or ``pass`` (not both), else a generated one, as WHM does."""
    given = [params[name] for name in ("password", "pass") if params.get(name)]
    if len(given) > 1:
        raise WhmFailure("You can use either the “pass” or the “password” parameter, but not both.")
    return given[0] if given else secrets.token_urlsafe(18)


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
