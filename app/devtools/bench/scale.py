"""`mpanel bench scale --stacks N`: N subscriptions' stacks built by the real engine against the
local servers, then what grows with them: stack listings, the operators' overview queries, one
drift pass (refresh + preview, as the nightly check runs it) over all, memory per worker
process, and the PostgreSQL bytes per stack. Per-stack figures are printed so 1,000 stacks can
be extrapolated; what is measured and what is extrapolated is said on each line.
"""
from __future__ import annotations

import resource
import statistics
import time
from typing import Callable

from app import db
from app.devtools.bench.figures import _ms, _new_subscription, _providers_configured, percentile
from app.settings import Settings

TARGET = 1000  # the scale target


def _median_of(n: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _at_once(concurrency: int, work: Callable, items, done: str, started: float):
    """work(item) for every item, `concurrency` at a time, yielding the results as they finish
    and printing progress. Threads here, where the worker runs a process per converge slot: the
    engine work (CLI, provider calls) is in other processes either way, and the SDK keeps an
    inline program's runtime settings in context variables, which threads do not share."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    items = list(items)
    with ThreadPoolExecutor(concurrency) as pool:
        for i, future in enumerate(as_completed([pool.submit(work, item) for item in items]), 1):
            yield future.result()
            if i % 25 == 0 or i == len(items):
                elapsed = time.perf_counter() - started
                print(f"  {done} {i}/{len(items)} in {elapsed / 60:.1f} min ({elapsed / i:.2f} s each)", flush=True)


def _rss_mb() -> tuple[float, float]:
    """(this process's peak RSS, the largest finished child's peak RSS) in MB (Linux: KB).
    A child's peak counts from its fork, so it is never below this process's size then."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


class TreeMemory:
    """Samples, every 0.2 s, the RSS of every process below this one (the Pulumi CLI, the
    language host, the provider plugins): the largest single process and the largest sum."""

    def __init__(self):
        import threading

        self.largest = self.total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        import os

        me = os.getpid()
        while not self._stop.wait(0.2):
            parents, rss = {}, {}
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    parents[int(entry)], rss[int(entry)] = int(fields[1]), int(fields[21]) * 4096 / 2**20
                except (OSError, IndexError, ValueError):
                    continue
            below = [pid for pid in parents if self._descends(pid, me, parents)]
            self.largest = max([self.largest, *(rss[p] for p in below)])
            self.total = max(self.total, sum(rss[p] for p in below))

    @staticmethod
    def _descends(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
        while pid in parents and pid not in (0, 1):
            pid = parents[pid]
            if pid == ancestor:
                return True
        return False


def _overview_queries(settings: Settings) -> dict[str, Callable[[], object]]:
    from app.db.hosting import runs
    from app.db.operators import ops

    def q(fn):
        def run():
            with db.transaction(settings.DATABASE_URL) as conn:
                ops.small_reads(conn)
                fn(conn)
        return run

    return {
        "`stacks list` query (runs.stack_overview)": q(runs.stack_overview),
        "console: state counts": q(ops.state_counts),
        "console: attention queue": q(lambda c: ops.attention_queue(c, 30)),
        "console: attention total": q(lambda c: ops.attention_total(c, 30)),
        "console: recent runs": q(ops.recent_runs),
        "console: converges per hour": q(ops.converges_per_hour),
        "console: subscriptions page (first)": q(ops.subscriptions_page),
        "console: subscriptions search (domain prefix)": q(lambda c: ops.subscriptions_page(c, query="bench-")),
    }


def _backend_sizes(settings: Settings, stack_names: list[str]) -> dict[str, float]:
    import psycopg

    url = settings.PULUMI_BACKEND_URL.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        table = conn.execute("SELECT pg_total_relation_size('pulumi_state')").fetchone()[0]
        stacks = conn.execute("SELECT count(*) FROM pulumi_state WHERE key LIKE 'pulumi/.pulumi/stacks/%%.json'"
                              ).fetchone()[0]
        mine = conn.execute(
            "SELECT count(*), coalesce(sum(pg_column_size(data)), 0) FROM pulumi_state "
            "WHERE split_part(regexp_replace(key, '^pulumi/\\.pulumi/[a-z]+/mpanel/', ''), '/', 1) "
            "= ANY(%s) OR regexp_replace(key, '^pulumi/\\.pulumi/stacks/mpanel/([^.]+)\\..*$', '\\1') = ANY(%s)",
            (stack_names, stack_names)).fetchone()
    with db.transaction(settings.DATABASE_URL) as conn:
        app_db = conn.execute("SELECT pg_database_size(current_database()) AS b").fetchone()["b"]
        subs = conn.execute("SELECT count(*) AS n FROM subscriptions").fetchone()["n"]
    return {"table": table, "stacks": stacks, "rows": mine[0], "bytes": mine[1],
            "app_db": app_db, "subscriptions": subs}


def _earlier_bench_stacks(settings: Settings, most: int) -> list[int]:
    """Subscriptions an earlier `bench scale` or `bench converge` built and left converged (so a
    long run can be resumed): active, ready, newest first."""
    with db.transaction(settings.DATABASE_URL) as conn:
        rows = conn.execute(
            "SELECT s.id FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
            "JOIN users u ON u.id = c.user_id WHERE u.email LIKE 'bench-%%@example.net' "
            "AND s.status = 'active' AND s.provisioning_status = 'ready' ORDER BY s.id DESC LIMIT %s",
            (most,)).fetchall()
    return [r["id"] for r in rows]


def pad_subscriptions(settings: Settings, rows: int) -> int:
    """Paid orders written by the checkout's own code (never converged) until the subscriptions
    table holds `rows`: the overview queries then read a table of that size. Returns how many."""
    with db.transaction(settings.DATABASE_URL) as conn:
        have = conn.execute("SELECT count(*) AS n FROM subscriptions").fetchone()["n"]
    for _ in range(max(0, rows - have)):
        _new_subscription(settings)
    return max(0, rows - have)


def run(stacks: int, n: int, rows: int = 0, concurrency: int = 2, reuse: bool = False,
        drift_sample: int = 0) -> int:
    from app.services.hosting.converge import Converger
    from app.services.hosting.drift import refresh_and_preview
    from app.services.hosting.engine import engine_config, stack_operations
    from stacks import engine

    settings = Settings.from_env()
    _providers_configured(settings)
    samples = max(3, n)
    print(f"scale benchmark: {stacks} new subscriptions' stacks (external domain), real engine and local servers, "
          f"{concurrency} engine runs at once (the worker's default concurrency)")

    # 1. build the stacks, `concurrency` converges at once (a worker process's default pace)
    def build_one(_i: int) -> tuple[int, float]:
        sid = _new_subscription(settings)
        started = time.perf_counter()
        outcome = Converger(settings, stack_operations(settings)).converge(sid)
        if outcome != "up":  # e.g. waiting for capacity: no stack was built, so stop rather than count it
            raise SystemExit(f"subscription {sid}: converge answered {outcome!r}, not 'up' (full web servers? "
                             "`mpanel servers list`, then `mpanel servers update <id> --capacity N`)")
        return sid, time.perf_counter() - started

    built: list[int] = _earlier_bench_stacks(settings, stacks) if reuse else []
    if built:
        print(f"  reusing {len(built)} stacks an earlier run built (active, converged)", flush=True)
    ups: list[float] = []
    build_started = time.perf_counter()
    for sid, took in _at_once(concurrency, build_one, range(stacks - len(built)), "built", build_started):
        built.append(sid)
        ups.append(took)
    build_wall = time.perf_counter() - build_started
    rss_after_ups = _rss_mb()
    if rows:
        print(f"  padded the subscriptions table with {pad_subscriptions(settings, rows)} paid orders "
              f"(not converged) to {rows} rows", flush=True)

    # 2. listings and the operators' overview, with this many stacks
    sizes = _backend_sizes(settings, [f"sub-{sid}" for sid in built])
    config = engine_config(settings)
    # The backend's own listing reads every stack's key: one sample is enough once there are many.
    pulumi_ls = _median_of(samples if sizes["stacks"] < 200 else 1,
                           lambda: engine.cli(config, "stack", "ls", "--all", "--json"))
    print(f"\nwith {sizes['stacks']} stacks in the Pulumi backend and {sizes['subscriptions']} subscriptions "
          f"rows (medians of {samples}):")
    print(f"  {'`pulumi stack ls --all` (the backend listing, one lister)':58} {_ms(pulumi_ls)}")
    for name, query in _overview_queries(settings).items():
        print(f"  {name:58} {_ms(_median_of(samples, query))}")

    # 3. one drift pass over the new stacks (the nightly check's per-stack job), `concurrency` at once
    def check_one(sid: int) -> tuple[int, float]:
        started = time.perf_counter()
        found = refresh_and_preview(settings, sid).drift
        return found, time.perf_counter() - started

    drift: list[float] = []
    found = 0
    drift_started = time.perf_counter()
    with TreeMemory() as engine_memory:
        checked = built[:drift_sample] if drift_sample else built
        for drifted, took in _at_once(concurrency, check_one, checked, "drift-checked", drift_started):
            found += drifted
            drift.append(took)
    drift_wall = time.perf_counter() - drift_started
    rss_after_drift = _rss_mb()
    if not built:
        return 0
    per_stack = statistics.median(drift)

    print(f"\ndrift pass (refresh + preview) over {len(checked)} of the {len(built)} stacks, {concurrency} at once: "
          f"{drift_wall / 60:.1f} min wall ({drift_wall / len(checked):.2f} s per stack of wall time), "
          f"each stack's check median {per_stack:.2f} s, p95 {percentile(drift, 95):.2f} s; drift found on {found}")
    if ups:
        print(f"building {len(ups)} of them, {concurrency} at once: {build_wall / 60:.1f} min wall "
              f"({len(ups) * 60 / build_wall:.0f} new stacks per minute); full up per new stack median "
              f"{statistics.median(ups):.2f} s, p95 {percentile(ups, 95):.2f} s")
    print(f"\nmemory (peak RSS): this process, which does what one worker process does "
          f"{rss_after_drift[0]:.0f} MB (after the ups {rss_after_ups[0]:.0f} MB); "
          f"during the drift pass its engine processes: largest one {engine_memory.largest:.0f} MB, "
          f"all at once {engine_memory.total:.0f} MB (sampled every 0.2 s)")
    per_stack_bytes = sizes["bytes"] / max(1, len(built))
    print(f"PostgreSQL: pulumi_state {sizes['table'] / 2**20:.1f} MB for {sizes['stacks']} stacks "
          f"({sizes['table'] / max(1, sizes['stacks']) / 1024:.0f} KB per stack, with removed stacks' leftovers); "
          f"these {len(built)} stacks' own rows: {sizes['rows']} rows, {per_stack_bytes / 1024:.0f} KB per stack "
          f"(measured before the drift pass); application database {sizes['app_db'] / 2**20:.1f} MB "
          f"for {sizes['subscriptions']} subscriptions")

    history_after_a_year(settings, f"sub-{built[0]}")

    if len(checked) >= TARGET:
        return 0
    print(f"\nextrapolated to {TARGET} stacks (linear in the per-stack figures above, not measured):")
    print(f"  drift pass at concurrency {concurrency}: {TARGET * drift_wall / len(checked) / 60:.0f} min")
    if len(built) >= TARGET:
        return 0
    print(f"  `pulumi stack ls`: {pulumi_ls * TARGET / max(1, sizes['stacks']):.1f} s "
          f"(the listing reads each stack's key: linear)")
    print(f"  Pulumi state: {per_stack_bytes * TARGET / 2**20:.0f} MB after one update each; each further update "
          f"(a nightly refresh) adds a history entry with a full checkpoint copy")
    return 0


# --- the Pulumi history after a year of nightly drift checks -----------------------------------

NIGHTS = 365


def simulate_nightly_updates(conn, backend, stack: str, nights: int, now: float | None = None) -> int:
    """Copy the stack's newest history/checkpoint pair `nights` times, one per night back from
    `now` (timestamps in the keys and the summary shifted): what a year of nightly drift checks
    leaves, without running them (365 refreshes would take hours). Returns the pairs written."""
    import json

    from psycopg import sql
    from stacks import history
    from stacks.engine import PROJECT

    [(newest, _), *_] = history.updates(conn, backend, PROJECT, stack)
    ext = "json"
    table = sql.Identifier(backend.table)
    summary = json.loads(conn.execute(sql.SQL("SELECT data::text FROM {} WHERE key = %s").format(table),
                                      (f"{newest}.history.{ext}",)).fetchone()[0])
    base = newest[:newest.rindex("-") + 1]
    now = now or time.time()
    for night in range(1, nights + 1):
        at = now - night * 86400
        prefix = f"{base}{int(at * 1e9)}"
        entry = {**summary, "startTime": int(at), "endTime": int(at) + 2}
        conn.execute(sql.SQL("INSERT INTO {} (key, data) VALUES (%s, %s::json)").format(table),
                     (f"{prefix}.history.{ext}", json.dumps(entry)))
        conn.execute(sql.SQL("INSERT INTO {} (key, data) SELECT %s, data FROM {} WHERE key = %s").format(table, table),
                     (f"{prefix}.checkpoint.{ext}", f"{newest}.checkpoint.{ext}"))
    return nights


def history_after_a_year(settings: Settings, stack: str) -> None:
    """State bytes of one stack after 365 simulated nightly drift checks, before and after pruning."""
    from app.services.retention import prune_stack_history
    from stacks import history
    from stacks.engine import PROJECT

    backend = history.Backend.from_url(settings.PULUMI_BACKEND_URL)
    with backend.connect() as conn:
        before = history.state_bytes(conn, backend, PROJECT, stack)
        simulate_nightly_updates(conn, backend, stack, NIGHTS)
        year = history.state_bytes(conn, backend, PROJECT, stack)
    started = time.perf_counter()
    pruned = prune_stack_history(settings)
    took = time.perf_counter() - started
    with backend.connect() as conn:
        after = history.state_bytes(conn, backend, PROJECT, stack)

    def kb(b: dict) -> str:
        return f"{(b['state'] + b['history']) / 1024:,.0f} KB ({b['updates']} updates in the history)"
    print(f"\nPulumi state of one stack ({stack}) after {NIGHTS} nightly drift checks, SIMULATED (its newest "
          f"history/checkpoint pair copied {NIGHTS} times with timestamps one night apart, not 365 real refreshes):")
    print(f"  before the year: {kb(before)}; after it, unpruned: {kb(year)}; after pruning (keep last "
          f"{settings.MPANEL_HISTORY_KEEP} and {settings.MPANEL_HISTORY_DAYS:g} days): {kb(after)}")
    print(f"  the prune pass: {took:.2f} s over {pruned['stacks']} stacks with updates beyond the policy, "
          f"{pruned['updates']} history/checkpoint pairs removed")
