"""`mpanel chaos`: paid orders through everything production throws at them, against the
running system (`mpanel run`), then the invariants; prints its figures, exits 1 when an
invariant broke.

1. M real checkouts through the app, paid on the Stripe stand-in, and a few left unpaid
   (decoys). Their real events (Stripe's event log) are redelivered by this command: N
   deliveries, every event 1-4 times, shuffled, late, concurrently, resent on a non-2xx,
   beside forged (wrong secret), tampered (body changed after signing) and stale (older
   than the 300 s tolerance) copies, which must be refused.
2. Meanwhile K SIGKILLs at random moments of engine runs: worker children (`mpanel worker`
   starts them again) and the engine's own processes (the Pulumi CLI, provider plugins,
   the dynamic-provider host); and outages: PowerDNS, Dovecot and pebble stopped (killed
   in a loop by this command for a while, then left to their supervisor to restart),
   PostgreSQL's connections dropped again and again (pg_terminate_backend), and transient
   faults through the stand-ins' fault API (5xx, hangs, latency, "try again") on every
   operation kind of WHM, NameSilo and Stripe.
3. Then it waits for quiet (nothing owed left in the queue) and checks: every paid order
   active with exactly one WHM account, zone, registration (when ordered), mail domain and
   mailbox set, welcome email; every forged event refused and nothing recorded or built for
   it; no upstream object of these orders without its live stack, none missing; each
   permanent fault (`--outages permanent`: one order per stand-in given a refusal no retry
   mends) flagged on its subscription with the reason and an alert.

`--whm-outage SECONDS` measures the issue's acceptance instead: a paid order while WHM
answers 503 for that long; the figure is the time from WHM's return to the order active.
"""
from __future__ import annotations

import os
import random
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter

import psycopg
import requests

from app.devtools.chaos.checks import Verdict, check_orders, check_victims
from app.devtools.chaos.stripe import Order, Stripe, deliver, plan_deliveries
from app.devtools.chaos.system import (Killer, StandIns, System, drop_connections, hold_down, operations,
                                  transient_fault, wait_ready)
from app.settings import Settings, state_dir

SERVER_OUTAGES = ("powerdns", "dovecot", "pebble", "postgres")
FAULT_OUTAGES = ("whm", "namesilo", "stripe")
OUTAGES = SERVER_OUTAGES + FAULT_OUTAGES + ("permanent",)
# Jobs that are owed work; the periodic sweeps come back every minute and are not "work left".
OWED_TASKS = ("converge_subscription", "process_stripe_event", "send_welcome_email", "send_lifecycle_email",
              "send_cpanel_password_email", "send_attention_alert")


def app_url(url: str | None) -> str:
    return (url or os.environ.get("APP_URL") or f"http://127.0.0.1:{os.environ.get('MPANEL_APP_PORT', 2271)}").rstrip("/")


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


class Workers:
    """The system's workers; started here (and stopped at the end) when none runs."""

    def __init__(self, system: System):
        self.system = system
        self.started: subprocess.Popen | None = None

    def ensure(self) -> None:
        if not self.system.workers()[0]:
            self.started = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--concurrency", "2"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(3)

    def stop(self) -> None:
        if self.started is not None:
            self.started.terminate()
            try:
                self.started.wait(60)
            except subprocess.TimeoutExpired:
                self.started.kill()


def _say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


# --- outages -----------------------------------------------------------------------------------

def run_outages(settings: Settings, kinds: list[str], seconds: float, rng: random.Random,
                stop: threading.Event, figures: Counter, window: float) -> None:
    """Each outage starts at its own moment of the window (the window split in equal slots,
    a random moment early in each); one whose moment comes after the window, or that could
    not fit in it, is not delivered (counted, never run late)."""
    from tools.services.layout import current

    layout, standins = current(), StandIns(settings)
    began, end = time.monotonic(), time.monotonic() + window
    slot = window / max(len(kinds), 1)
    for i, kind in enumerate(kinds):
        at = began + i * slot + rng.uniform(0, max(0.0, slot - seconds) / 2)
        time.sleep(max(0.0, at - time.monotonic()))
        if stop.is_set() or time.monotonic() + min(seconds, 1.0) > end:
            figures["outages not delivered (window over)"] += 1
            _say(f"outage: {kind} not delivered: the window is over")
            continue
        held = min(seconds, end - time.monotonic())  # an outage ends with the window
        figures["outages delivered"] += 1
        if kind == "postgres":
            figures["postgres connections dropped"] += drop_connections(settings, held)
        elif kind in SERVER_OUTAGES:
            killed = hold_down(layout, kind, held)
            back = wait_ready(layout, kind)
            figures[f"{kind} down (kills)"] += killed
            _say(f"outage: {kind} down {held:.0f}s ({killed} kills), answering again {back:.1f}s later")
            continue
        elif kind in FAULT_OUTAGES:
            counts = {}  # fault id -> how many requests it was to fire for
            for op in operations(kind):
                fault = transient_fault(kind, op, rng)
                counts[standins.inject(kind, fault)["id"]] = fault["count"]
                figures[f"{kind} faults injected ({fault['kind']})"] += 1
            time.sleep(held)
            left = {f["id"]: f["fired"] for f in standins.faults(kind)}
            # A fault that fired as often as it was to is gone from the list.
            figures[f"{kind} faults fired (requests)"] += sum(left.get(i, n) for i, n in counts.items())
            standins.clear(kind)
        _say(f"outage: {kind} for {held:.0f}s done")


def run_kills(killer: Killer, k: int, rng: random.Random, window: float, stop: threading.Event) -> None:
    """K kills at K random moments of the window. Each looks for its target from its moment
    until the next one's (or the window's end); one that finds none is not delivered
    (Killer.missed): no kill is waited for past the window."""
    began = time.monotonic()
    moments = sorted(rng.uniform(0, window) for _ in range(k)) + [window]
    for i in range(k):
        if stop.is_set():
            killer.missed += k - i
            return
        time.sleep(max(0.0, began + moments[i] - time.monotonic()))
        left = began + window - time.monotonic()
        if left <= 0:
            killer.missed += k - i
            return
        kind = killer.kill_one(wait_for_run=min(left, max(0.5, moments[i + 1] - moments[i])))
        if kind:
            _say(f"SIGKILL {sum(killer.kills.values())}/{k}: {kind}")


# --- quiet ---------------------------------------------------------------------------------------

def owed(settings: Settings, paid: list[Order], victims: dict[int, str], events: list[str]) -> tuple[int, int]:
    """(orders not yet ready with their welcome recorded, owed jobs queued or running). Only this
    run's orders and events count: whatever else the system owes (another run's, a test's
    leftovers) is not what this run checks, and must not keep it waiting."""
    ids = [o.subscription_id for o in paid if o.subscription_id not in victims]
    everything = [o.subscription_id for o in paid]
    with psycopg.connect(settings.DATABASE_URL, autocommit=True, connect_timeout=10) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM subscriptions s WHERE s.id = ANY(%s) AND (s.provisioning_status <> 'ready' "
            "OR NOT EXISTS (SELECT 1 FROM emails_sent e WHERE e.subscription_id = s.id AND e.kind = 'welcome'))",
            (ids,)).fetchone()[0]
        jobs = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
                            "AND task_name = ANY(%s) AND ((args->>'subscription_id')::bigint = ANY(%s) "
                            "OR args->>'event_id' = ANY(%s))",
                            (list(OWED_TASKS), everything, events)).fetchone()[0]
        # An event Stripe was answered for but nothing processed yet is owed too: its sweep comes.
        jobs += conn.execute("SELECT count(*) FROM stripe_events WHERE processed_at IS NULL AND id = ANY(%s)",
                             (events,)).fetchone()[0]
    return waiting, jobs


# Orders not done with nothing owed for longer than the sweeps' period (converge_stragglers
# every 5 minutes for an order older than 2) are a dead end: no point waiting for them.
DEAD_END_AFTER = 480


def wait_for_quiet(settings: Settings, paid: list[Order], victims: dict[int, str], events: list[str],
                   timeout: float) -> float | None:
    started = time.monotonic()
    last, idle_since = None, None
    while time.monotonic() - started < timeout:
        try:
            state = owed(settings, paid, victims, events)
        except psycopg.Error:
            state = None
        if state == (0, 0):
            return time.monotonic() - started
        if state != last:
            _say(f"waiting for quiet: {state[0] if state else '?'} orders not done, "
                 f"{state[1] if state else '?'} owed jobs or events")
            last = state
        if state and state[1] == 0:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > DEAD_END_AFTER:
                _say(f"{state[0]} orders not done and nothing owed for {DEAD_END_AFTER}s: a dead end")
                return None
        else:
            idle_since = None
        time.sleep(2)
    return None


# --- the run -------------------------------------------------------------------------------------

def chaos(settings: Settings, url: str, m: int, n: int, k: int, outages: list[str], seed: int,
          outage_seconds: float, spread: float, settle: float, kill_targets: str = "all") -> int:
    rng = random.Random(seed)
    marker = f"chaos{seed}x{secrets.token_hex(2)}"
    stripe = Stripe(settings, url)
    system = System(state_dir())
    workers = Workers(system)
    workers.ensure()
    before_workers = len(system.workers()[0])
    figures: Counter = Counter()
    began = time.monotonic()
    was_paused = stripe.pause()
    since = time.time() - 1
    paid, decoys, victims = [], [], {}
    try:
        _say(f"chaos against {url} (seed {seed}): {m} paid checkouts, {n} deliveries, {k} kills, "
             f"outages {','.join(outages) or 'none'}")
        for i in range(m):
            paid.append(stripe.checkout(rng, marker, ("external", "new_registration")[i % 2]))
        decoys = [stripe.checkout(rng, marker, "external") for _ in range(max(1, m // 4))]
        for order in paid:
            stripe.pay(order)
        events = stripe.take_over(since)
        plan = plan_deliveries(events, n, rng, spread)
        _say(f"{len(events)} real events for {m} paid orders; delivering {len(plan)} times")

        stop = threading.Event()
        killer = Killer(system, rng, kill_targets)
        results = {}
        threads = [
            threading.Thread(target=lambda: results.update(d=deliver(
                stripe, plan, rng, [o.session_id for o in decoys], stop=stop)), name="deliveries"),
            threading.Thread(target=run_kills, args=(killer, k, rng, spread, stop), name="kills"),
            threading.Thread(target=run_outages, args=(settings, [o for o in outages if o != "permanent"],
                                                       outage_seconds, rng, stop, figures, spread), name="outages"),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        chaos_done = time.monotonic()
        stripe.control("webhooks", {"paused": was_paused})
        standins = StandIns(settings)
        for name in FAULT_OUTAGES:
            standins.clear(name)
        _say(f"chaos over after {chaos_done - began:.0f}s; waiting for quiet")
        quiet = wait_for_quiet(settings, paid, victims, events, settle)
        if "permanent" in outages:
            victims = permanent_faults(settings, stripe, rng, marker, paid, figures)
            wait_for_quiet(settings, paid, victims, events, settle)

        verdict = Verdict()
        d = results["d"]
        refused_ok = [f"{kind} {eid} answered {status}" for kind, eid, status in d.accepted_forgeries]
        verdict.check("every forged, tampered and stale delivery refused", refused_ok)
        verdict.check("every genuine event taken (2xx) in the end", [f"{e} {s}" for e, s in d.undelivered])
        verdict.check("quiet within the settle time", [] if quiet is not None else [f"not quiet after {settle:.0f}s"])
        # A dropped connection is an outage for one request: 503 (with Retry-After) at most, never a 500.
        verdict.check("no webhook answered a 5xx other than 503",
                      [f"{count}x {status}" for (_, status), count in sorted(d.answers.items())
                       if status >= 500 and status != 503])
        workers_now = len(system.workers()[0])
        verdict.check("every killed worker replaced",
                      [] if workers_now >= before_workers else [f"{workers_now} of {before_workers} workers"])
        genuine = sorted({e for e in events})
        check_orders(settings, verdict, paid, decoys, victims, genuine)
        if victims:
            check_victims(settings, verdict, victims)
        print_figures(d, killer, figures, m, len(decoys), chaos_done - began, quiet, verdict, seed, spread)
        return 1 if verdict.broken else 0
    finally:
        try:
            stripe.control("webhooks", {"paused": was_paused})
        except requests.RequestException:
            pass
        workers.stop()


def permanent_faults(settings: Settings, stripe: Stripe, rng: random.Random, marker: str, paid: list[Order],
                     figures: Counter) -> dict[int, str]:
    """One more paid order per stand-in whose first create is refused for good: WHM's createacct
    and NameSilo's registerDomain. Run after the rest is quiet, so the fault meets that order."""
    standins = StandIns(settings)
    victims: dict[int, str] = {}
    for standin, op, mode in (("whm", "createacct", "external"), ("namesilo", "registerDomain", "new_registration")):
        reason = f"chaos {marker}: refused for good by {standin} {op}"
        fault = {"operation": op, "kind": "code", "count": 1, "reason": reason}
        if standin == "namesilo":
            # NameSilo's refusals are numbered: the provider words code 261 in its own sentence.
            fault["code"] = 261
            reason = "is not available for registration"
        standins.inject(standin, fault)
        order = stripe.checkout(rng, marker, mode)
        stripe.pay(order)
        paid.append(order)
        victims[order.subscription_id] = reason
        figures[f"permanent faults ({standin} {op})"] += 1
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with psycopg.connect(settings.DATABASE_URL, autocommit=True) as conn:
                row = conn.execute("SELECT needs_attention_since, provisioning_status FROM subscriptions "
                                   "WHERE id = %s", (order.subscription_id,)).fetchone()
            if row[0] is not None or row[1] == "ready":
                break
            time.sleep(1)
        standins.clear(standin)
        _say(f"permanent fault on {standin} {op}: order #{order.subscription_id} "
             f"{'flagged' if row[0] else 'not flagged (' + row[1] + ')'}")
    return victims


def print_figures(d, killer: Killer, figures: Counter, m: int, decoys: int, chaos_seconds: float,
                  quiet: float | None, verdict: Verdict, seed: int, window: float) -> None:
    kills = killer.kills
    rows = [("paid checkouts", m), ("unpaid decoys", decoys)]
    rows += [(f"deliveries: {kind}", count) for kind, count in sorted(d.by_kind.items())]
    rows.append((f"deliveries: first sent within the {window:.0f}s window", d.on_time))
    rows.append(("deliveries: first sent after it (not delivered in the window)", d.late))
    rows.append(("deliveries sent again after a non-2xx", d.resent))
    for (kind, status), count in sorted(d.answers.items()):
        rows.append((f"answers: {kind} -> {status or 'no answer'}", count))
    rows += [(f"SIGKILL: {kind}", count) for kind, count in sorted(kills.items())]
    rows.append(("SIGKILL: total", sum(kills.values())))
    rows.append(("SIGKILL: not delivered (nothing to hit in the window)", killer.missed))
    rows += sorted(figures.items())
    rows.append(("chaos phase", f"{chaos_seconds:.0f} s"))
    rows.append(("time to quiet after it", f"{quiet:.0f} s" if quiet is not None else "never (settle timeout)"))
    rows.append(("invariants held", len(verdict.held)))
    rows.append(("invariants broken", len(verdict.broken)))
    width = max(len(r[0]) for r in rows)
    print(f"\nmpanel chaos, seed {seed}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    for line in verdict.held:
        print(f"  held    {line}")
    for line in verdict.broken:
        print(f"  BROKEN  {line}")
    print(flush=True)


# --- the 15-minute WHM outage --------------------------------------------------------------------

def whm_outage(settings: Settings, url: str, seconds: float, settle: float) -> int:
    """A paid order while WHM answers 503 to everything for `seconds`; how long after WHM's
    return the order is active (no human step: only the retries and sweeps)."""
    standins, stripe = StandIns(settings), Stripe(settings, url)
    rng = random.Random()
    standins.inject("whm", {"operation": "*", "kind": "http", "status": 503, "count": 0})
    try:
        started = time.monotonic()
        order = stripe.checkout(rng, f"whmout{secrets.token_hex(2)}", "external")
        stripe.pay(order)
        _say(f"WHM answers 503 to everything; order #{order.subscription_id} paid; holding {seconds:.0f}s")
        while time.monotonic() - started < seconds:
            time.sleep(min(60, seconds - (time.monotonic() - started)))
            _say(f"  {time.monotonic() - started:5.0f}s: {_runs(settings, order.subscription_id)}")
    finally:
        standins.clear("whm")
    cleared = time.monotonic()
    _say(f"WHM back after {cleared - started:.0f}s: {_runs(settings, order.subscription_id)}")
    active = welcomed = None
    while time.monotonic() - cleared < settle and welcomed is None:
        with psycopg.connect(settings.DATABASE_URL, autocommit=True) as conn:
            ready = conn.execute("SELECT provisioning_status = 'ready' AND status = 'active' FROM subscriptions "
                                 "WHERE id = %s", (order.subscription_id,)).fetchone()[0]
            welcome = conn.execute("SELECT 1 FROM emails_sent WHERE subscription_id = %s AND kind = 'welcome'",
                                   (order.subscription_id,)).fetchone()
        if ready and active is None:
            active = time.monotonic() - cleared
        if welcome and active is not None:
            welcomed = time.monotonic() - cleared
        time.sleep(1)
    print(f"\nmpanel chaos --whm-outage {seconds:.0f}")
    print(f"  order                               #{order.subscription_id}")
    print(f"  runs during the outage              {_runs(settings, order.subscription_id)}")
    print(f"  WHM back -> order active            {'%.0f s' % active if active is not None else 'not within %.0f s' % settle}")
    print(f"  WHM back -> welcome email recorded  {'%.0f s' % welcomed if welcomed is not None else 'not yet'}")
    return 0 if active is not None else 1


def _runs(settings: Settings, sid: int) -> str:
    with psycopg.connect(settings.DATABASE_URL, autocommit=True) as conn:
        rows = conn.execute("SELECT status, count(*) FROM provisioning_runs WHERE subscription_id = %s "
                            "GROUP BY status ORDER BY status", (sid,)).fetchall()
        flag = conn.execute("SELECT needs_attention_since IS NOT NULL FROM subscriptions WHERE id = %s",
                            (sid,)).fetchone()[0]
    return ", ".join(f"{n} {status}" for status, n in rows) + ("; flagged needs attention" if flag else "")


def run(args) -> int:
    settings = Settings.from_env()
    url = app_url(args.url)
    if not _answers(url):
        print(f"mpanel chaos: nothing answers at {url}: start the system with `mpanel run` (or pass --url)",
              file=sys.stderr)
        return 2
    if args.whm_outage:
        return whm_outage(settings, url, args.whm_outage, args.settle)
    outages = [o for o in (args.outages.split(",") if args.outages else []) if o]
    if outages == ["all"]:
        outages = list(OUTAGES)
    unknown = sorted(set(outages) - set(OUTAGES))
    if unknown:
        print(f"mpanel chaos: unknown outage {', '.join(unknown)}; known: {', '.join(OUTAGES)}, all", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    return chaos(settings, url, args.checkouts, args.deliveries, args.kills, outages, seed,
                 args.outage_seconds, args.spread, args.settle, args.kill_targets)
