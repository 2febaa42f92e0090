"""How long a stand-in call takes with 10 and with 10,000 objects stored.

    python -m sandbox.common.bench [--objects 10000] [--samples 300] [--only stripe,whm,namesilo]

Each stand-in runs as ``python -m sandbox.<name>`` (as ``mpanel run`` starts it) on a
free port with a temporary state directory. One object of each kind is made through
the real API, then copied straight into the stand-in's database until the store
holds 10 and then ``--objects`` of them: making 10,000 cPanel accounts through
``createacct`` would time argon2, not the store. At each size every call is made
``--samples`` times over HTTP with keep-alive, on random objects, and the median and
95th percentile are printed: of the whole round trip as the client sees it, and of
the stand-in's own share (its ``Server-Timing`` header, which leaves out the client,
the socket and waitress, and so varies less with the machine's load). Timings are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import requests

from .serving import STATE_FILE
from .state import StateStore, Table

SECRET = "bench-secret-0123456789abcdef"
SIZES = (10,)


@dataclass
class Call:
    name: str
    run: Callable[[requests.Session, str, int], requests.Response]  # (session, url, object number)


@dataclass
class Bench:
    """One stand-in: how to start it, make its template objects, copy them, and call it."""

    module: str
    args: list[str]
    tables: list[Table]
    initial: Callable[[], dict[str, Any]]
    template: Callable[[requests.Session, str], None]
    copy_to: Callable[[StateStore, int, int], None]   # (store, from number, to number)
    calls: list[Call]


# -- Stripe ------------------------------------------------------------------------------

def _stripe() -> Bench:
    from sandbox.stripe.objects import TABLES, initial_state, new_id

    headers = {"Authorization": f"Bearer {SECRET}"}
    ids: dict[str, list[str]] = {"customer": [], "checkout.session": []}

    def template(http: requests.Session, url: str) -> None:
        customer = http.post(f"{url}/v1/customers", data={"email": "c0@bench.example"}, headers=headers).json()
        price = http.post(f"{url}/v1/prices", headers=headers, data={
            "product_data[name]": "Shared Student", "currency": "usd", "unit_amount": "500",
            "recurring[interval]": "month"}).json()
        session = http.post(f"{url}/v1/checkout/sessions", headers=headers, data={
            "mode": "subscription", "customer": customer["id"], "line_items[0][price]": price["id"],
            "line_items[0][quantity]": "1", "success_url": "https://shop.example/ok"}).json()
        ids["customer"].append(customer["id"])
        ids["checkout.session"].append(session["id"])

    def copy_to(store: StateStore, start: int, end: int) -> None:
        with store.change() as state:
            customer = state["customer"][ids["customer"][0]]
            session = state["checkout.session"][ids["checkout.session"][0]]
            private = state["sessions"][session["id"]]
            for number in range(start, end):
                twin = {**copy.deepcopy(customer), "id": new_id("cus_", 14), "email": f"c{number}@bench.example"}
                state["customer"][twin["id"]] = twin
                paid = {**copy.deepcopy(session), "id": new_id("cs_test_", 58), "customer": twin["id"]}
                paid["url"] = session["url"].replace(session["id"], paid["id"])
                state["checkout.session"][paid["id"]] = paid
                state["sessions"][paid["id"]] = copy.deepcopy(private)
                ids["customer"].append(twin["id"])
                ids["checkout.session"].append(paid["id"])

    def get(path: Callable[[int], str]) -> Callable[[requests.Session, str, int], requests.Response]:
        return lambda http, url, n: http.get(f"{url}{path(n)}", headers=headers)

    return Bench(
        "sandbox.stripe", ["--key", SECRET], TABLES, initial_state, template, copy_to, [
            Call("GET /v1/customers/<id>", get(lambda n: f"/v1/customers/{ids['customer'][n]}")),
            Call("GET /v1/checkout/sessions/<id>",
                 get(lambda n: f"/v1/checkout/sessions/{ids['checkout.session'][n]}")),
            Call("GET /v1/checkout/sessions?customer=",
                 get(lambda n: f"/v1/checkout/sessions?customer={ids['customer'][n]}")),
            Call("GET /v1/customers?limit=10", get(lambda n: "/v1/customers?limit=10")),
            Call("POST /v1/customers", lambda http, url, n: http.post(
                f"{url}/v1/customers", data={"email": f"new{n}@bench.example"}, headers=headers)),
        ])


# -- WHM ------------------------------------------------------------------------------

def _whm() -> Bench:
    from sandbox.whm.server import TABLES, initial_state

    headers = {"Authorization": f"whm root:{SECRET}"}

    def user(n: int) -> str:
        return f"b{n:07d}"

    def template(http: requests.Session, url: str) -> None:
        body = http.post(f"{url}/json-api/createacct", headers=headers, data={
            "api.version": "1", "username": user(0), "domain": f"{user(0)}.example", "plan": "mpanel_starter",
            "password": "correct-horse-9"}).json()
        assert body["metadata"]["result"] == 1, body

    def copy_to(store: StateStore, start: int, end: int) -> None:
        with store.change() as state:
            accounts = state["accounts"]
            account = accounts[user(0)]
            for number in range(start, end):
                accounts[user(number)] = {**account, "user": user(number), "domain": f"{user(number)}.example"}

    def function(name: str, params: Callable[[int], dict[str, str]]) -> Callable[..., requests.Response]:
        return lambda http, url, n: http.get(f"{url}/json-api/{name}", headers=headers,
                                             params={"api.version": "1", **params(n)})

    return Bench(
        "sandbox.whm", ["--token", SECRET], TABLES, initial_state, template, copy_to, [
            Call("accountsummary user=", function("accountsummary", lambda n: {"user": user(n)})),
            Call("accountsummary domain=", function("accountsummary", lambda n: {"domain": f"{user(n)}.example"})),
            Call("listaccts search=<user> exact", function("listaccts", lambda n: {
                "search": user(n), "searchtype": "user", "searchmethod": "exact"})),
            Call("listaccts search=<domain> exact", function("listaccts", lambda n: {
                "search": f"{user(n)}.example", "searchtype": "domain", "searchmethod": "exact"})),
            Call("suspendacct", function("suspendacct", lambda n: {"user": user(n), "reason": "bench"})),
        ])


# -- NameSilo ------------------------------------------------------------------------------

def _namesilo() -> Bench:
    from sandbox.namesilo.registrar import TABLES, initial_state

    def domain(n: int) -> str:
        return f"bench{n:07d}.com"

    def operation(name: str, params: Callable[[int], dict[str, str]]) -> Callable[..., requests.Response]:
        return lambda http, url, n: http.get(f"{url}/api/{name}", params={
            "version": "1", "type": "json", "key": SECRET, **params(n)})

    def template(http: requests.Session, url: str) -> None:
        reply = operation("registerDomain", lambda n: {"domain": domain(0), "years": "1"})(http, url, 0).json()
        assert reply["reply"]["code"] == 300, reply

    def copy_to(store: StateStore, start: int, end: int) -> None:
        with store.change() as state:
            domains = state["domains"]
            record = domains[domain(0)]
            for number in range(start, end):
                domains[domain(number)] = {**copy.deepcopy(record), "domain": domain(number)}

    return Bench(
        "sandbox.namesilo", ["--key", SECRET, "--balance", "100000"], TABLES, initial_state(0), template,
        copy_to, [
            Call("getDomainInfo", operation("getDomainInfo", lambda n: {"domain": domain(n)})),
            Call("checkRegisterAvailability", operation("checkRegisterAvailability",
                                                        lambda n: {"domains": f"{domain(n)},free{n}.com"})),
            Call("domainLock/domainUnlock", lambda http, url, n: operation(
                "domainUnlock" if n % 2 else "domainLock", lambda m: {"domain": domain(m)})(http, url, n)),
        ])


BENCHES: dict[str, Callable[[], Bench]] = {"stripe": _stripe, "whm": _whm, "namesilo": _namesilo}


# -- running ------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(bench: Bench, state_dir: Path) -> Iterator[str]:
    port = _free_port()
    checkout = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    server = subprocess.Popen(
        [sys.executable, "-m", bench.module, "--host", "127.0.0.1", "--port", str(port),
         "--state-dir", str(state_dir), *bench.args],
        cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/_sandbox/state", timeout=1)
                break
            except requests.RequestException:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{bench.module} did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=15)


def _measure(call: Call, http: requests.Session, url: str, count: int, samples: int) -> tuple[list[float], list[float]]:
    """Round-trip and in-the-stand-in milliseconds of ``samples`` calls on random objects."""
    picks = [random.randrange(count) for _ in range(samples)]
    for n in picks[:10]:  # warm the connection and the server's caches
        call.run(http, url, n)
    trips, server = [], []
    for n in picks:
        started = time.perf_counter()
        response = call.run(http, url, n)
        trips.append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            raise SystemExit(f"{call.name} answered {response.status_code}: {response.text[:300]}")
        server.append(float(response.headers["Server-Timing"].rpartition("dur=")[2]))
    return trips, server


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


Row = tuple[str, str, int, float, float, float, float]  # stand-in, call, size, median, p95, in-stand-in median, p95


def run(names: list[str], objects: int, samples: int) -> list[Row]:
    rows = []
    for name in names:
        bench = BENCHES[name]()
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp, served(bench, Path(tmp)) as url:
            http = requests.Session()
            bench.template(http, url)
            # A second process writing the same SQLite file is safe: writers queue on its lock.
            store = StateStore(Path(tmp) / STATE_FILE, bench.tables, bench.initial)
            have = 1
            for size in sorted({*SIZES, objects}):
                bench.copy_to(store, have, size)
                have = size
                for call in bench.calls:
                    trips, server = _measure(call, http, url, size, samples)
                    row = (name, call.name, size, statistics.median(trips), _p95(trips),
                           statistics.median(server), _p95(server))
                    rows.append(row)
                    print(f"{name:9} {call.name:36} {size:>6} objects: round trip median {row[3]:6.2f} ms "
                          f"p95 {row[4]:6.2f} ms; in the stand-in median {row[5]:6.2f} ms p95 {row[6]:6.2f} ms",
                          flush=True)
            store.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.common.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000, help="the large size (default 10000)")
    parser.add_argument("--samples", type=int, default=300, help="calls timed per call and size (default 300)")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated stand-ins (default all)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(BENCHES)
    if unknown:
        parser.error(f"unknown stand-ins {sorted(unknown)}; choose from {', '.join(BENCHES)}")
    rows = run(names, args.objects, args.samples)
    _summary(rows, args.objects)
    return 0


def _summary(rows: list[Row], objects: int) -> None:
    """Side by side: each call with 10 and with ``objects`` objects stored (milliseconds)."""
    sizes = (10, objects)
    print(f"\n{'':47}{'round trip, median / p95':^34}{'in the stand-in, median / p95':^34}")
    print(f"{'stand-in':9} {'call':36} " + " ".join(f"{f'{size} objects':>16}" for size in sizes * 2))
    by_key = {(row[0], row[1], row[2]): row for row in rows}
    for name, call in dict.fromkeys((row[0], row[1]) for row in rows):
        cells = []
        for first in (3, 5):
            for size in sizes:
                row = by_key.get((name, call, size))
                cells.append(f"{row[first]:7.2f} / {row[first + 1]:6.2f}" if row else f"{'-':>16}")
        print(f"{name:9} {call:36} " + " ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
