"""`mpanel bench ...`: speed measured against the local servers, printed as figures.

Quote medians and ratios from one run: the machines are shared and noisy.
"""
from __future__ import annotations

import os
import secrets
import statistics
import time
from contextlib import contextmanager
from typing import Callable

from app import db
from app.settings import Settings


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.0f} ms"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def timed(into: list[float]):
    started = time.perf_counter()
    yield
    into.append(time.perf_counter() - started)


# --- providers: create and delete, one resource kind at a time ----------------------------

def _domain() -> str:
    return f"bench-{secrets.token_hex(4)}.com"


# The stack name the benchmark's direct provider calls mark their objects with (decision 5).
BENCH_OWNER = "bench"


def provider_cases(settings: Settings) -> dict[str, Callable[[], tuple[Callable, Callable, Callable]]]:
    """name -> factory returning (setup, create, delete) closures for one fresh object."""
    from providers.resources.certificate import CertificateProvider
    from providers.resources.dns_zone import DnsZoneProvider
    from providers.resources.domain_registration import DomainRegistrationProvider
    from providers.resources.mail_domain import MailDomainProvider
    from providers.resources.mailbox import MailboxProvider
    from providers.resources.whm_account import WhmAccountProvider

    def simple(provider, inputs_for, before=None, after=None):
        def factory():
            domain = _domain()
            state: dict = {}

            def setup():
                if before:
                    before(domain, state)

            def create():
                inputs = provider.check({}, inputs_for(domain, state)).inputs
                result = provider.create(inputs)
                state["created"] = (result.id, {**inputs, **result.outs})

            def delete():
                provider.delete(*state["created"])
                if after:
                    after(domain, state)
            return setup, create, delete
        return factory

    zones = DnsZoneProvider()

    def with_zone(domain, state):
        inputs = zones.check({}, {"domain": domain, "server_ip": "127.0.0.1", "owner": BENCH_OWNER}).inputs
        created = zones.create(inputs)
        state["zone"] = (created.id, {**inputs, **created.outs})

    def drop_zone(domain, state):
        zones.delete(*state["zone"])

    mail_domains = MailDomainProvider()

    def with_mail_domain(domain, state):
        inputs = mail_domains.check({}, {"domain": domain, "owner": BENCH_OWNER}).inputs
        created = mail_domains.create(inputs)
        state["mail_domain"] = (created.id, {**inputs, **created.outs})

    def drop_mail_domain(domain, state):
        mail_domains.delete(*state["mail_domain"])

    home = settings.SITES_HOME_ROOT.rstrip("/")
    return {
        "powerdns zone": simple(zones, lambda d, s: {"domain": d, "server_ip": "127.0.0.1", "owner": BENCH_OWNER}),
        "acme certificate": simple(CertificateProvider(), lambda d, s: {"domain": d}, with_zone, drop_zone),
        "whm account": simple(WhmAccountProvider(),
                              lambda d, s: {"domain": d, "plan": "mpanel_student", "contact_email": f"o@{d}",
                                            "owner": BENCH_OWNER}),
        "namesilo registration": simple(DomainRegistrationProvider(),
                                        lambda d, s: {"domain": d, "mode": "new_registration", "owner": BENCH_OWNER}),
        "mailbox": simple(MailboxProvider(), lambda d, s: {"address": f"admin@{d}", "owner": BENCH_OWNER}, with_mail_domain,
                          drop_mail_domain),
        "starter page": lambda: _starter_page_over_ssh(settings, f"{home}/bench-{_domain()}/public_html"),
    }


def _starter_page_over_ssh(settings: Settings, document_root: str) -> tuple[Callable, Callable, Callable]:
    """The remote command the program's remote.Command runs, made directly with OpenSSH."""
    import shlex
    import subprocess

    from stacks.site import publish_once_script

    host, _, port = settings.SSH_ADDRESS.rpartition(":")
    ssh = ["ssh", "-p", port or "22", "-i", settings.SITES_SSH_KEY_PATH, "-o", "BatchMode=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
           f"{settings.SITES_SSH_USER or 'root'}@{host}"]

    def run(command: str, stdin: str = "") -> None:
        subprocess.run([*ssh, command], input=stdin, text=True, check=True, capture_output=True)

    return (lambda: run(f"mkdir -p {shlex.quote(document_root)}"),
            lambda: run(publish_once_script(document_root, "nobody-here"), "<h1>bench</h1>"),
            lambda: run(f"rm -rf {shlex.quote(document_root.rsplit('/', 1)[0])}"))


def _providers_configured(settings: Settings) -> None:
    """Providers called in this process read the configuration the engine would hand them."""
    from app.services.hosting.engine import provider_config
    from providers.core import config

    config.use(provider_config(settings))


def bench_providers(n: int) -> int:
    settings = Settings.from_env()
    _providers_configured(settings)
    print(f"provider create/delete against the local servers, {n} objects each (median, p95)")
    for name, factory in provider_cases(settings).items():
        creates: list[float] = []
        deletes: list[float] = []
        for _ in range(n):
            setup, create, delete = factory()
            setup()
            with timed(creates):
                create()
            with timed(deletes):
                delete()
        print(f"  {name:22} create {_ms(statistics.median(creates))} (p95 {_ms(percentile(creates, 95)).strip()})"
              f"   delete {_ms(statistics.median(deletes))} (p95 {_ms(percentile(deletes, 95)).strip()})")
    return 0


# --- converge: full up, no-change up, preview, destroy, and the imperative baseline -----

def _new_subscription(settings: Settings) -> int:
    """A paid order for a fresh external domain, written by the checkout's own code."""
    from app.services.orders.orders import Order, place_order

    order = Order(email=f"bench-{secrets.token_hex(4)}@example.net", first_name="Bench", last_name="Mark",
                  password=secrets.token_urlsafe(12), plan_slug="shared_student", billing_cycle="monthly",
                  domain=_domain(), domain_mode="external")
    with db.transaction(settings.DATABASE_URL) as conn:
        sid = place_order(conn, settings, order).subscription_id
        conn.execute("UPDATE subscriptions SET status = 'active' WHERE id = %s", (sid,))
    return sid


def imperative_baseline(settings: Settings) -> float:
    """The same upstream calls, in sequence, without Pulumi: create all, then delete all."""
    cases = provider_cases(settings)
    order = ["powerdns zone", "acme certificate", "whm account", "mailbox", "starter page"]
    started = time.perf_counter()
    made = []
    for name in order:
        setup, create, delete = cases[name]()
        setup()
        create()
        made.append(delete)
    elapsed = time.perf_counter() - started
    for delete in reversed(made):
        delete()
    return elapsed


def bench_converge(n: int) -> int:
    from app.services.hosting.engine import stack_operations
    from stacks.events import StepRecorder
    from app.services.hosting.specs import build_spec

    from app.services.hosting.converge import NOTHING_TO_DO, Converger

    settings = Settings.from_env()
    _providers_configured(settings)
    ops = stack_operations(settings)
    converger = Converger(settings, ops)
    figures: dict[str, list[float]] = {k: [] for k in ("full up", "no-change up", "converge, forced",
                                                       "converge, no change", "preview", "destroy", "baseline")}
    per_resource: dict[str, list[float]] = {}
    print(f"converge benchmark: {n} fresh subscriptions (external domain), real engine and local servers")
    for i in range(n):
        sid = _new_subscription(settings)
        with timed(figures["full up"]):
            converger.converge(sid)
        with db.transaction(settings.DATABASE_URL) as conn:
            spec = build_spec(conn, sid, settings)
            for row in conn.execute("SELECT resource_name, duration_ms FROM provisioning_events WHERE "
                                    "subscription_id = %s AND status = 'done' AND op = 'create' "
                                    "AND resource_type NOT IN ('mpanel:hosting:Account', 'pulumi:providers:pulumi-python')",
                                    (sid,)):
                per_resource.setdefault(row["resource_name"], []).append(row["duration_ms"] / 1000)
        with timed(figures["no-change up"]):
            ops.up(spec, StepRecorder())
        # What an event's converge costs when nothing changed: the engine before the shortcut
        # (what an operator's forced converge still runs), and the shortcut (no Pulumi CLI).
        with timed(figures["converge, forced"]):
            converger.converge(sid, force=True)
        with timed(figures["converge, no change"]):
            assert converger.converge(sid) == NOTHING_TO_DO
        with timed(figures["preview"]):
            ops.preview(spec, StepRecorder())
        with db.transaction(settings.DATABASE_URL) as conn:
            conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
        with timed(figures["destroy"]):
            converger.converge(sid)
        figures["baseline"].append(imperative_baseline(settings))
        print(f"  run {i + 1}: full up {figures['full up'][-1]:.2f}s, baseline {figures['baseline'][-1]:.2f}s",
              flush=True)
    imports = provider_process_imports(max(n, 5))
    print(f"\n{'operation':16} {'median':>10} {'p95':>10}")
    for name, values in figures.items():
        print(f"{name:16} {_ms(statistics.median(values))} {_ms(percentile(values, 95))}")
    ratio = statistics.median(figures["full up"]) / statistics.median(figures["baseline"])
    print(f"\nfull up / imperative baseline (medians): {ratio:.2f}x")
    print("\nwhere a full up spends its time (median per resource create, as the engine reported it;"
          "\nthe rest is the engine's fixed cost: CLI start, provider process start, checkpoints):")
    for name, values in sorted(per_resource.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"  {name:16} {_ms(statistics.median(values))}")
    print("\nthe dynamic-provider process's imports (what every engine operation pays once), medians:")
    for name, seconds in imports.items():
        print(f"  {name:34} {_ms(seconds)}")
    return 0


# What the engine's dynamic-provider process loads: the SDK's provider server, then (when it
# unpickles the resources' providers) every provider module by reference (decision 4).
# pulumi.dynamic.__main__ starts serving when imported: these are its imports.
PROVIDER_SERVER = ("dill", "grpc", "pulumi.runtime", "pulumi.dynamic", "pulumi.runtime.proto.provider_pb2_grpc")
PROVIDER_MODULES = ("providers.stored", "providers.resources.dns_zone", "providers.resources.certificate",
                    "providers.resources.whm_account", "providers.resources.domain_registration",
                    "providers.resources.mail_domain", "providers.resources.mailbox", "providers.resources.whm_ssl")


def provider_process_imports(n: int = 5) -> dict[str, float]:
    """Median wall time of a fresh interpreter importing what the provider process imports,
    against one importing only the SDK's provider server; and whether Flask or `app` came along."""
    import subprocess
    import sys

    def run(modules: tuple[str, ...]) -> tuple[float, str]:
        code = ("import sys, time; t = time.perf_counter(); " + "; ".join(f"import {m}" for m in modules)
                + "; print(time.perf_counter() - t, 'flask' in sys.modules,"
                  " any(m == 'app' or m.startswith('app.') for m in sys.modules))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        return float(out[0]), f"flask {'loaded' if out[1] == 'True' else 'not loaded'}, " \
                              f"app {'loaded' if out[2] == 'True' else 'not loaded'}"

    sdk = [run(PROVIDER_SERVER)[0] for _ in range(n)]
    full = [run((*PROVIDER_SERVER, *PROVIDER_MODULES)) for _ in range(n)]
    return {"SDK provider server only": statistics.median(sdk),
            f"SDK + all provider modules ({full[-1][1]})": statistics.median(f[0] for f in full),
            "the provider modules' share": statistics.median(f[0] for f in full) - statistics.median(sdk)}


def bench_standins(n: int) -> int:
    """`mpanel bench standins`: each stand-in's calls with 10 and with 10,000 objects stored
    (sandbox/common/bench.py starts its own copies; no servers needed)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "sandbox.common.bench", "--samples", str(max(n, 300))]).returncode


def bench_imports(n: int) -> int:
    """`mpanel bench imports`: the provider process's import cost alone (no servers needed)."""
    for name, seconds in provider_process_imports(n).items():
        print(f"{name:60} {_ms(seconds)}")
    return 0


# --- the customer journey: webhook answers, paid-to-welcome, draining a burst ---------------

class Welcomes:
    """Who has received a welcome email in the SMTP server's Maildir. Each message is read once
    (the Maildir keeps every message of every run, and rereading them all per poll made the
    poll itself seconds slow)."""

    def __init__(self, settings: Settings):
        import mailbox

        self.box = mailbox.Maildir(settings.SMTP_MAILDIR, create=True)
        self.seen: set[str] = set()
        self.recipients: set[str] = set()

    def arrived(self, email: str) -> bool:
        for key in set(self.box.keys()) - self.seen:
            self.seen.add(key)
            try:
                self.recipients.add((self.box[key].get("To") or "").lower())
            except KeyError:
                continue  # removed meanwhile
        return any(email.lower() in to for to in self.recipients)


def _checkout(settings: Settings) -> tuple[int, str, str]:
    from app.devtools.demo import seed_checkout
    from app.devtools.loopback import a_customer

    token = secrets.token_hex(4)
    payload = seed_checkout(token)
    r = a_customer().post(f"{settings.APP_URL}/api/marketing/checkout-intent", json=payload,
                          headers={"X-API-Key": settings.MARKETING_API_KEY}, timeout=30)
    r.raise_for_status()
    body = r.json()
    return body["subscriptionId"], body["checkoutSessionId"], payload["customer"]["email"]


def _journey_phases(settings: Settings, sid: int, cs: str, paid_at: float, seen_at: float) -> dict[str, float]:
    """One paid checkout's way to its welcome email, cut at the timestamps its rows keep."""
    with db.transaction(settings.DATABASE_URL) as conn:
        event = conn.execute(
            "SELECT extract(epoch FROM received_at) AS received, extract(epoch FROM processed_at) AS processed "
            "FROM stripe_events WHERE type = 'checkout.session.completed' "
            "AND payload->'data'->'object'->>'id' = %s", (cs,)).fetchone()
        run = conn.execute(
            "SELECT extract(epoch FROM started_at) AS started, extract(epoch FROM finished_at) AS finished "
            "FROM provisioning_runs WHERE subscription_id = %s AND status = 'succeeded' ORDER BY id LIMIT 1",
            (sid,)).fetchone()
        mail = conn.execute("SELECT extract(epoch FROM sent_at) AS sent FROM emails_sent "
                            "WHERE subscription_id = %s AND kind = 'welcome'", (sid,)).fetchone()
    marks = [("pay call -> webhook recorded (stand-in delivers, app answers)", paid_at, event["received"]),
             ("webhook recorded -> event processed (job picked up, Stripe read)", event["received"],
              event["processed"]),
             ("event processed -> converge run starts", event["processed"], run["started"]),
             ("converge run (stack init, pulumi up, bookkeeping)", run["started"], run["finished"]),
             ("run done -> welcome email claimed", run["finished"], mail["sent"]),
             ("claimed -> seen in the Maildir (SMTP, this poll)", mail["sent"], seen_at)]
    return {name: float(end) - float(begin) for name, begin, end in marks}


def _converges_and_runs(settings: Settings, sids: list[int], after_job: int, after_run: int) -> tuple[int, int, int]:
    """Converge jobs for `sids` since the marks (finished, still waiting) and engine runs made."""
    with db.transaction(settings.DATABASE_URL) as conn:
        jobs = conn.execute(
            "SELECT count(*) FILTER (WHERE status IN ('succeeded', 'failed')) AS done, "
            "count(*) FILTER (WHERE status IN ('todo', 'doing')) AS waiting FROM procrastinate_jobs "
            "WHERE task_name = 'converge_subscription' AND id > %s "
            "AND (args->>'subscription_id')::bigint = ANY(%s)", (after_job, sids)).fetchone()
        runs = conn.execute("SELECT count(*) AS n FROM provisioning_runs WHERE id > %s AND subscription_id = ANY(%s) "
                            "AND operation = 'up'", (after_run, sids)).fetchone()["n"]
    return jobs["done"], jobs["waiting"], runs


def _marks(conn) -> dict:
    return conn.execute("SELECT (SELECT coalesce(max(id), 0) FROM procrastinate_jobs) AS job, "
                        "(SELECT coalesce(max(id), 0) FROM provisioning_runs) AS run, now() AS at").fetchone()


def _renewals(settings: Settings, session, sids: list[int]) -> None:
    """Each subscription renewed (renewal_paid: invoice.paid and its companions, as Stripe sends
    them), then the converges that asked for and the engine runs they made are counted."""
    with db.transaction(settings.DATABASE_URL) as conn:
        marks = _marks(conn)
        stripe_ids = [r["stripe_subscription_id"] for r in conn.execute(
            "SELECT stripe_subscription_id FROM subscriptions WHERE id = ANY(%s)", (sids,))]
    for stripe_sub in stripe_ids:
        session.post(f"{settings.STRIPE_API_BASE}/_sandbox/subscriptions/{stripe_sub}/advance",
                     json={"outcome": "renewal_paid"}, timeout=30).raise_for_status()
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        with db.transaction(settings.DATABASE_URL) as conn:
            events = conn.execute("SELECT count(*) AS n, count(processed_at) AS done FROM stripe_events "
                                  "WHERE received_at > %s", (marks["at"],)).fetchone()
        done, waiting, runs = _converges_and_runs(settings, sids, marks["job"], marks["run"])
        if events["n"] and events["n"] == events["done"] and not waiting:
            break
        time.sleep(0.5)
    print(f"renewals of these {len(sids)} subscriptions (renewal_paid, the Stripe stand-in's test clock): "
          f"{events['n']} Stripe events processed, {done} converges run, {runs} engine runs "
          f"({done - runs} answered 'nothing to do' without starting the engine)")


def bench_journey(n: int, drain: int = 20) -> int:
    """Needs the running system (`make run`): the app, the worker and the Stripe stand-in."""
    import requests

    settings = Settings.from_env()
    session = requests.Session()
    welcomes = Welcomes(settings)
    # 1. a burst of 200 signed webhooks from one sender, then from 8 at once, as Stripe's
    #    retries can produce
    from app.devtools.bench import webhooks

    webhooks.report(settings)

    def pay(cs: str) -> None:
        session.post(f"{settings.STRIPE_API_BASE}/_sandbox/checkout/{cs}/pay", json={"card": "4242424242424242"},
                     timeout=30).raise_for_status()

    # 2. paid -> welcome email, one checkout at a time
    paid_to_welcome: list[float] = []
    phases: list[dict[str, float]] = []
    journey: list[int] = []
    with db.transaction(settings.DATABASE_URL) as conn:
        start = _marks(conn)
    for _ in range(n):
        sid, cs, email = _checkout(settings)
        journey.append(sid)
        started, paid_at = time.perf_counter(), time.time()
        pay(cs)
        deadline = started + 300
        while not welcomes.arrived(email):
            if time.perf_counter() > deadline:
                raise SystemExit(f"subscription {sid}: no welcome email after 300 s")
            time.sleep(0.05)
        paid_to_welcome.append(time.perf_counter() - started)
        phases.append(_journey_phases(settings, sid, cs, paid_at, paid_at + paid_to_welcome[-1]))
    print(f"paid webhook -> welcome email in the SMTP server ({n} checkouts): median "
          f"{statistics.median(paid_to_welcome):.1f} s, p95 {percentile(paid_to_welcome, 95):.1f} s")
    print("  where it went (medians, from the rows' own timestamps):")
    for name in phases[0]:
        print(f"    {name:58} {_ms(statistics.median(p[name] for p in phases))}")

    # 2b. a renewal of each (the Stripe stand-in's test clock): converges asked for, engine runs made
    _renewals(settings, session, journey)
    done, _, runs = _converges_and_runs(settings, journey, start["job"], start["run"])
    print(f"over the journey of these {len(journey)} subscriptions (payment, events, renewal): {done} converges run, "
          f"{runs} engine runs ({done - runs} avoided: nothing to do)")

    # 3. `drain` paid checkouts at once, drained at the default worker settings
    burst = [_checkout(settings) for _ in range(drain)]
    started = time.perf_counter()
    for _, cs, _ in burst:
        pay(cs)
    waiting = {email for _, _, email in burst}
    while waiting:
        waiting = {e for e in waiting if not welcomes.arrived(e)}
        if time.perf_counter() - started > 900 + 10 * drain:
            raise SystemExit(f"{len(waiting)} of {drain} checkouts not welcomed after {900 + 10 * drain} s")
        time.sleep(0.25)
    took = time.perf_counter() - started
    print(f"{drain} paid checkouts drained (all welcomed) in {took:.1f} s ({drain * 60 / took:.1f} per minute) "
          f"at worker concurrency {os.environ.get('MPANEL_WORKER_CONCURRENCY', 2)}")
    return 0
