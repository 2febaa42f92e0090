"""`mpanel bench sync`: the sync report of a server holding 1,000 accounts.

The WHM stand-in runs in this process (a temporary state directory, a free port, real HTTP) with
`--accounts` accounts written straight into its store (making them through `createacct` would
time argon2, not the report); half of them are "managed" by stacks given in memory, one of those
differing in package. PowerDNS, the mail core and NameSilo are stand-ins in memory holding as many
zones, mail domains and registrations: each is one listing call (NameSilo: pages of 500), so what
grows with the size of the business is WHM's `listaccts` and the comparison, both timed here.
Prints the median and the worst of `n` reports; nothing is asserted.
"""
from __future__ import annotations

import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path

from werkzeug.serving import make_server

from app.services.operators.sync_report import compare
from providers.clients.whm import WhmClient
from providers.core.config import ProviderConfig

TOKEN = "bench-sync-0123456789abcdef"


def _accounts(store, count: int) -> None:
    now = int(time.time())
    with store.change() as state:
        accounts = state["accounts"]
        for number in range(count):
            user = f"acct{number:05d}"
            accounts[user] = {
                "user": user, "domain": f"{user}.example", "plan": "mpanel_starter", "owner": "root",
                "email": f"owner@{user}.example", "ip": "192.0.2.10", "suspended": False, "suspendreason": "",
                "suspendtime": None, "quota_mb": 5120, "bwlimit_mb": 0, "maxpop": 0, "password_hash": "x",
                "startdate": now}


def run(n: int, count: int = 1000) -> int:
    from sandbox.whm.app import create_app

    with tempfile.TemporaryDirectory(prefix="mpanel-bench-sync-") as tmp:
        app = create_app(Path(tmp) / "state.sqlite3", TOKEN)
        store = app.extensions["sandbox.whm"].store
        _accounts(store, count)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request is not a figure
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            whm = WhmClient(ProviderConfig(CPANEL_WHM_URL=f"http://127.0.0.1:{server.server_port}",
                                           CPANEL_WHM_API_TOKEN=TOKEN))
            stacks = [{"subscription_id": i, "status": "active", "whm_package": "mpanel_starter",
                       "domain": f"acct{i:05d}.example", "cpanel_username": f"acct{i:05d}", "ip_address": None}
                      for i in range(count // 2)]
            stacks[0]["whm_package"] = "mpanel_business"
            zones = [{"name": f"z{i}.example.", "account": f"sub-{i}" if i % 2 else ""} for i in range(count)]
            mail = [{"name": f"m{i}.example", "owner": None, "mailboxes": 1} for i in range(count)]
            registered = [f"r{i}.example" for i in range(count)]
            live = {f"sub-{i}" for i in range(count // 2)}
            times, listing = [], []
            report = None
            for _ in range(max(n, 1)):
                started = time.perf_counter()
                accounts = whm.list_accounts()
                listed = time.perf_counter()
                report = compare({"id": 1, "name": "bench", "ip_address": "192.0.2.10"}, accounts, stacks,
                                 zones=zones, mail_domains=mail, registered=registered, live_stacks=live,
                                 live_domains={})
                times.append(time.perf_counter() - started)
                listing.append(listed - started)
        finally:
            server.shutdown()
            store.close()
    assert report is not None
    print(f"sync report, {count} accounts on the server (WHM stand-in over HTTP), {count} zones, "
          f"mail domains and registrations; {len(times)} reports")
    print(f"  whole report: median {statistics.median(times) * 1000:.0f} ms, worst {max(times) * 1000:.0f} ms "
          f"(of which listaccts: median {statistics.median(listing) * 1000:.0f} ms)")
    print(f"  found: {report.counts}")
    return 0
