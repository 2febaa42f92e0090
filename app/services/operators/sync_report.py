"""The sync report of one web server: what is upstream that mpanel does not manage, and what
mpanel manages that is not upstream as it should be. Read only: nothing here changes anything.

Compared (WHMCS's "Sync Accounts", without its automatic fixes):
- the server's WHM accounts (one `listaccts`) against the stacks placed on it: accounts no stack
  manages (what an import would take over), stacks whose account is missing, and stacks whose
  account differs in package, suspension, domain or address;
- every PowerDNS zone and mail-core domain whose mark names no live stack (or that carries none);
- every domain in the NameSilo account that no order holds.

Zones, mail domains and registrations are not per server: every server's report lists them,
so an operator reading any one report sees what is left over anywhere.

`compare` is a pure function of what was read (tested with lists in memory, timed by
`mpanel bench sync`); `sync_report` reads it all once, one call per upstream (NameSilo pages).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from app import db
from app.db.operators import sync_report as rows
from app.services.hosting import servers as web_servers
from app.services.hosting.engine import provider_config, whm_client
from app.settings import Settings
from providers.core.errors import ProviderError
from stacks.spec import SUSPENDED_STATES, stack_name


class SyncRefused(web_servers.ServerRefused):
    """The server's WHM could not be read: there is no report without its accounts."""


@dataclass
class SyncReport:
    server: dict
    accounts: int = 0                                   # WHM accounts on the server
    stacks: int = 0                                     # stacks placed on it
    unmanaged_accounts: list[dict] = field(default_factory=list)
    missing_accounts: list[dict] = field(default_factory=list)
    differing_accounts: list[dict] = field(default_factory=list)
    unmanaged_zones: list[dict] = field(default_factory=list)
    unmanaged_mail_domains: list[dict] = field(default_factory=list)
    unordered_registrations: list[dict] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)  # upstreams that could not be read
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in LISTS}

    def as_dict(self) -> dict:
        return {**asdict(self), "counts": self.counts}


LISTS = ("unmanaged_accounts", "missing_accounts", "differing_accounts", "unmanaged_zones",
         "unmanaged_mail_domains", "unordered_registrations")


def _bare(name: Any) -> str:
    return str(name or "").lower().rstrip(".")


def compare(server: dict, accounts: list[dict], stacks: list[dict], *, zones: list[dict] | None = None,
            mail_domains: list[dict] | None = None, registered: list[str] | None = None,
            live_stacks: set[str] = frozenset(), live_domains: dict[str, int] | None = None) -> SyncReport:
    """The report from what was read; None for an upstream that could not be read (left out)."""
    report = SyncReport(server={k: server.get(k) for k in ("id", "name", "hostname", "ip_address")},
                        accounts=len(accounts), stacks=len(stacks))
    live_domains = live_domains or {}
    by_user = {a["user"]: a for a in accounts}
    by_domain = {_bare(a.get("domain")): a for a in accounts}
    claimed: set[str] = set()
    for stack in stacks:
        user = stack.get("cpanel_username")
        account = by_user.get(user) if user else by_domain.get(_bare(stack["domain"]))
        entry = {"subscription_id": stack["subscription_id"], "stack": stack_name(stack["subscription_id"]),
                 "domain": stack["domain"], "user": user}
        if account is None:
            # Not made yet (a first converge still to come) is not missing: only an account we recorded.
            if user:
                report.missing_accounts.append(entry)
            continue
        claimed.add(account["user"])
        differences = _differences(stack, account, str(server.get("ip_address") or ""))
        if differences:
            report.differing_accounts.append({**entry, "user": account["user"], "differences": differences})
    for account in accounts:
        if account["user"] in claimed:
            continue
        domain = _bare(account.get("domain"))
        report.unmanaged_accounts.append({
            "user": account["user"], "domain": domain, "package": account.get("plan"),
            "suspended": bool(int(account.get("suspended") or 0)), "ip": account.get("ip"),
            "email": account.get("email"), "disk_used": account.get("diskused"),
            # An order for the same name elsewhere: importing it would be refused.
            "ordered_as": stack_name(live_domains[domain]) if domain in live_domains else None})
    if zones is not None:
        report.unmanaged_zones = [
            {"zone": _bare(z.get("name")), "account": z.get("account") or None} for z in zones
            if (z.get("account") or "") not in live_stacks]
    if mail_domains is not None:
        report.unmanaged_mail_domains = [
            {"domain": d["name"], "owner": d.get("owner"), "mailboxes": d.get("mailboxes")} for d in mail_domains
            if (d.get("owner") or "") not in live_stacks]
    if registered is not None:
        report.unordered_registrations = [{"domain": name} for name in registered if _bare(name) not in live_domains]
    return report


def _differences(stack: dict, account: dict, server_ip: str) -> list[dict]:
    found = []

    def differs(what: str, wanted: Any, upstream: Any) -> None:
        if wanted != upstream:
            found.append({"what": what, "wanted": wanted, "upstream": upstream})

    differs("package", stack["whm_package"], account.get("plan"))
    differs("suspended", stack["status"] in SUSPENDED_STATES, bool(int(account.get("suspended") or 0)))
    differs("domain", _bare(stack["domain"]), _bare(account.get("domain")))
    # The address recorded by the last converge, else the server's own (what the A records follow).
    differs("ip", stack.get("ip_address") or server_ip, account.get("ip") or stack.get("ip_address") or server_ip)
    return found


def sync_report(settings: Settings, server_ref: str, *, clients: dict[str, Any] | None = None,
                clock: Callable[[], float] = time.monotonic) -> SyncReport:
    """The report of one server (its id or name). `clients` (tests, bench) replaces upstream clients
    by name: whm, powerdns, mailcore, namesilo."""
    started = clock()
    clients = dict(clients or {})
    with db.transaction(settings.DATABASE_URL) as conn:
        server = web_servers.find(conn, server_ref)
        stacks = rows.stacks_on(conn, server["id"])
        domains = rows.live_domains(conn)
        live = rows.live_stacks(conn)
    unreachable: list[str] = []
    whm = clients.get("whm") or whm_client(settings, server["id"])
    try:
        accounts = whm.list_accounts()
    except ProviderError as exc:  # the report is about this server: no answer, no report
        raise SyncRefused("server", f"the WHM of server {server['id']} ({server['hostname']}) could not be "
                                    f"read: {exc.message}", status=502) from None

    def read(name: str, build: Callable[[], Any], list_them: Callable[[Any], Any]):
        try:
            return list_them(clients.get(name) or build())
        except ProviderError as exc:
            unreachable.append(f"{name}: {exc.message}")
            return None

    config = provider_config(settings)
    zones = read("powerdns", lambda: _client("powerdns", config), lambda c: c.list_zones())
    mail = read("mailcore", lambda: _client("mailcore", config), lambda c: c.list_domains())
    registered = read("namesilo", lambda: _client("namesilo", config), lambda c: c.list_domains())
    report = compare(server, accounts, stacks, zones=zones, mail_domains=mail, registered=registered,
                     live_stacks=live, live_domains=domains)
    report.unreachable = unreachable
    report.seconds = round(clock() - started, 3)
    return report


def _client(name: str, config):
    if name == "powerdns":
        from providers.clients.powerdns import PowerDnsClient
        return PowerDnsClient(config)
    if name == "mailcore":
        from providers.clients.mailcore import MailCoreClient
        return MailCoreClient(config)
    from providers.clients.namesilo import NameSiloClient
    return NameSiloClient(config)
