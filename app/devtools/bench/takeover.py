"""`mpanel bench takeover`: taking over a hosting business, against the local servers.

Writes into the running servers what another system would have left (app/devtools/left_behind.py):
`--accounts` cPanel accounts on the WHM stand-in (default 1,000), `--imports` of them (default
100) complete with their zone in PowerDNS and a mail domain with a mailbox on the mail core.
Then times, with the real services:

- the sync report of server 1 (`mpanel servers sync 1`'s work: WHM's `listaccts`, PowerDNS, the
  mail core, NameSilo and the comparison), `-n` times: median and worst;
- the import of each complete account (`mpanel import account`'s work: the checks, the rows and
  the stack's first converge, which takes the account, zone and mail over and issues the
  certificate), one after another: median, worst and total; the checks alone are timed first.

Afterwards the imported stacks are destroyed and the other accounts removed (not timed). Nothing
is asserted beyond every import finishing: the figures are printed (docs/benchmarks.md).
"""
from __future__ import annotations

import secrets
import statistics
import time
from dataclasses import dataclass, field

from app.devtools.left_behind import forget, leave_account, leave_site
from app.services.hosting.converge import Converger
from app.services.hosting.engine import provider_config
from app.services.operators.imports import ImportRequest, check_account, import_account
from app.services.operators.sync_report import sync_report
from app.settings import Settings
from providers.clients.powerdns import PowerDnsClient
from providers.clients.whm import WhmClient

SERVER = "1"


@dataclass
class TakeoverFigures:
    accounts: int
    imports: int
    users: list[str] = field(default_factory=list)   # the accounts written (and removed afterwards)
    sync_seconds: list[float] = field(default_factory=list)
    unmanaged_ours: int = 0              # of our accounts, how many the report listed as unmanaged
    check_seconds: list[float] = field(default_factory=list)
    import_seconds: list[float] = field(default_factory=list)
    imported: list[int] = field(default_factory=list)    # subscription ids, every import finished
    unmanaged_after: int = 0             # of our imported accounts, still listed unmanaged afterwards


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def measure(settings: Settings, accounts: int = 1000, imports: int = 100, n: int = 5) -> TakeoverFigures:
    if not 0 < accounts <= 9999:
        raise ValueError("--accounts: 1 to 9,999 (cPanel tells users apart by 8 characters)")
    imports = min(imports, accounts)
    # cPanel tells users apart by their first 8 characters: "b", a run's tag, the number.
    tag = secrets.token_hex(2)[:3]
    names = [(f"b{tag}{i:04d}", f"bench-{tag}-{i:04d}-mpanel-test.com") for i in range(accounts)]
    config = provider_config(settings)
    whm, dns = WhmClient(config), PowerDnsClient(config)
    figures = TakeoverFigures(accounts, imports, users=[user for user, _ in names])
    try:
        for i, (user, domain) in enumerate(names):
            if i < imports:
                leave_site(settings, user, domain, whm=whm, dns=dns)
            else:
                leave_account(settings, user, domain, whm=whm)
        ours = {user for user, _ in names}
        for _ in range(max(n, 1)):
            started = time.perf_counter()
            report = sync_report(settings, SERVER)
            figures.sync_seconds.append(time.perf_counter() - started)
        figures.unmanaged_ours = len(ours & {a["user"] for a in report.unmanaged_accounts})

        requests = [ImportRequest(SERVER, user, f"owner@{domain}") for user, domain in names[:imports]]
        for request in requests:
            started = time.perf_counter()
            check_account(settings, request)
            figures.check_seconds.append(time.perf_counter() - started)
        for request in requests:
            started = time.perf_counter()
            done = import_account(settings, request, operator="bench", command="mpanel bench takeover")
            figures.import_seconds.append(time.perf_counter() - started)
            figures.imported.append(done.subscription_id)
            if not done.finished:
                raise RuntimeError(f"the import of {request.user} did not finish: {done.outcome}")
        after = sync_report(settings, SERVER)
        imported_users = {r.user for r in requests}
        figures.unmanaged_after = len(imported_users & {a["user"] for a in after.unmanaged_accounts})
    finally:
        _clean_up(settings, figures.imported, names)
    return figures


def _clean_up(settings: Settings, imported: list[int], names: list[tuple[str, str]]) -> None:
    """Destroy the imported stacks (as a termination would) and remove everything else written."""
    from app import db

    converger = Converger(settings)
    for sid in imported:
        with db.transaction(settings.DATABASE_URL) as conn:
            conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
        try:
            converger.converge(sid)
        except Exception as exc:  # cleaning up: say so, keep going
            print(f"  sub-{sid}: could not be destroyed ({exc})")
    for user, domain in names:
        forget(settings, user, domain)


def run(n: int, accounts: int = 1000, imports: int = 100) -> int:
    settings = Settings.from_env()
    started = time.perf_counter()
    f = measure(settings, accounts, imports, n)
    sync, checks, took = f.sync_seconds, f.check_seconds, f.import_seconds
    print(f"taking over a business: {f.accounts} accounts left on server {SERVER} (WHM stand-in), {f.imports} of "
          f"them with a zone and mail; real PowerDNS, mail core, NameSilo stand-in, Pulumi engine")
    print(f"  sync report ({len(sync)} runs): median {_ms(statistics.median(sync))}, worst {_ms(max(sync))}; "
          f"it listed {f.unmanaged_ours} of our {f.accounts} accounts as unmanaged")
    if took:
        print(f"  import checks alone ({len(checks)}): median {_ms(statistics.median(checks))}, "
              f"worst {_ms(max(checks))}, total {sum(checks):.1f} s")
        print(f"  import with its first converge ({len(took)}, one after another): median "
              f"{_ms(statistics.median(took))}, worst {_ms(max(took))}, total {sum(took):.1f} s; "
              f"{f.unmanaged_after} still unmanaged afterwards")
    print(f"  whole bench with setup and clean-up: {time.perf_counter() - started:.0f} s")
    return 0 if f.unmanaged_ours == f.accounts and f.unmanaged_after == 0 else 1
