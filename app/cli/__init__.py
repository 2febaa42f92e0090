"""The `mpanel` command: setup, local servers, database, doctor, the app."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from app.settings import Settings, app_port, metrics_dir, web_processes, worker_concurrency
from app.cli.preflight import database_at, explain, preflight


def cmd_setup(args) -> int:
    from stacks import install
    from tools import axe, debian, pulumi_cli, stripe_mock

    started = time.monotonic()
    # A production worker needs the engine, not the local servers a development box runs.
    debian.ensure(packages=debian.WORKER_PACKAGES if args.worker else debian.PACKAGES)
    pulumi_cli.build_cli()
    pulumi_cli.build_command_plugin()
    stripe_mock.build()  # the Stripe contract test and the stand-in's schema check need it
    if not args.worker:
        axe.ensure()  # the browser tests' accessibility check (a development box only)
    print(f"setup done in {time.monotonic() - started:.0f}s; Pulumi CLI at {install.cli_path()}")
    return 0


def cmd_install(args) -> int:
    from pathlib import Path

    from app.cli import install as deploy

    layout = deploy.Layout(root=Path(args.root).resolve(), server_name=args.server_name, app_port=args.app_port,
                           https_port=args.https_port, http_port=args.http_port, python=args.python,
                           tls_cert=args.tls_cert or "", tls_key=args.tls_key or "")
    deploy.install(layout)
    return 0


def cmd_config(args) -> int:
    from pathlib import Path

    from app.cli import config_check

    env_file = Path(args.env_file) if args.env_file else (
        config_check.DEFAULT_ENV_FILE if config_check.DEFAULT_ENV_FILE.exists() else None)
    return config_check.run(env_file, probe=not args.no_probe)


def cmd_services(args) -> int:
    from tools.services import supervisor
    from tools.services.layout import current

    layout = current()
    try:
        if args.action == "up":
            if args.foreground:
                return supervisor.run_foreground(layout)
            supervisor.start_detached(layout)
        elif args.action == "down":
            print("stopped" if supervisor.stop_detached(layout) else "not running")
            return 0
    except supervisor.ServiceError as exc:
        print(f"mpanel services: {exc}", file=sys.stderr)
        return 1
    report = supervisor.status(layout)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"local servers: {'running' if report['running'] else 'stopped'} (state in {report['state_dir']})")
        for name, s in report["servers"].items():
            ports = ", ".join(f"{k}={v}" for k, v in s["ports"].items())
            print(f"  {name:10} {'ready' if s['ready'] else 'down':6} {ports}")
        print("endpoints:")
        for key, value in report["endpoints"].items():
            print(f"  {key}={value}")
    return 0 if args.action != "status" or report["running"] else 3


def cmd_db(args) -> int:
    from app import db

    dsn = Settings.from_env().DATABASE_URL
    if args.action == "status":
        applied, pending, unknown = db.status(dsn)
        print(f"database {database_at(dsn)}: {len(applied)} migration(s) applied, {len(pending)} pending")
        for name in pending:
            print(f"  pending  {name}")
        for name in unknown:
            print(f"  applied by a newer release: {name}")
        if applied and not pending:
            print(f"  last     {max(applied, key=lambda n: (applied[n], n))}")
        # 3 (like `services status` when stopped): scripts can wait for `mpanel db upgrade`.
        return 3 if pending else 0
    applied = db.upgrade(dsn)
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def cmd_version(args) -> int:
    from app.cli import version

    print(version.describe())
    return 0


def cmd_doctor(args) -> int:
    from app.cli import doctor

    return doctor.report(doctor.run(Settings.from_env()))


def cmd_worker(args) -> int:
    from app.cli import worker

    return worker.run(Settings.from_env(), args.concurrency, args.queues.split(",") if args.queues else None)


def cmd_stacks(args) -> int:
    from app.cli import stacks as stacks_cli

    if args.action == "migrate":
        return stacks_cli.cmd_migrate(Settings.from_env(), args.subscription_id, every=args.all,
                                      dry_run=args.dry_run)
    if len(args.subscription_id) > 1:
        print(f"mpanel stacks {args.action} takes one subscription id", file=sys.stderr)
        return 2
    return stacks_cli.main(args.action, (args.subscription_id or [None])[0], yes=args.yes,
                           cancel_billing=args.cancel_billing)


def cmd_billing(args) -> int:
    from app.cli import billing as billing_cli

    return billing_cli.anomalies(Settings.from_env(), include_resolved=args.all,
                                 subscription_id=args.subscription, as_json=args.json)


def cmd_staff(args) -> int:
    from app.cli import staff as staff_cli

    return staff_cli.main(args.action, args.email, args.role, args.link, args.scope)


def cmd_keys(args) -> int:
    from app.services import keys

    done = keys.rotate(Settings.from_env())
    for name, count in done.resealed.items():
        left = done.unreadable.get(name, 0)
        print(f"  {name:45} {count} resealed" + (f", {left} opened by none of the keys (left as they were)"
                                                      if left else ""))
    if not done.complete:
        print("mpanel keys rotate: some secrets are sealed with a key no longer in MPANEL_ENCRYPTION_KEY; "
              "keep the old key until they are replaced", file=sys.stderr)
        return 1
    print("every stored secret is sealed with the newest key: the older keys can be removed from "
          "MPANEL_ENCRYPTION_KEY")
    return 0


# The dev tools (app/devtools) are imported inside these handlers only, when their subcommand
# runs: building the parser or running `serve` and `worker` never loads them.


def cmd_bench(args) -> int:
    from app.devtools.bench import figures

    return {"providers": figures.bench_providers, "converge": figures.bench_converge,
            "journey": lambda n: figures.bench_journey(n, args.drain), "imports": figures.bench_imports,
            "standins": figures.bench_standins, "console": _bench_console, "sync": _bench_sync,
            "floor": _bench_engine("bench_floor"), "profile": _bench_engine("bench_profile"),
            "scale": _bench_scale(args), "takeover": _bench_takeover(args),
            "webhooks": _bench_webhooks}[args.what](args.n)


def _bench_webhooks(n: int) -> int:
    from app.devtools.bench import webhooks

    for _ in range(n):
        webhooks.report(Settings.from_env())
    return 0


def _bench_engine(name: str):
    def run(n: int) -> int:
        from app.devtools.bench import engine as bench_engine

        return getattr(bench_engine, name)(n)
    return run


def _bench_scale(args):
    def run(n: int) -> int:
        from app.devtools.bench import scale

        return scale.run(args.stacks, n, args.rows, args.concurrency, args.reuse, args.drift_sample)
    return run


def _bench_takeover(args):
    def run(n: int) -> int:
        from app.devtools.bench import takeover

        return takeover.run(n, args.accounts, args.imports)
    return run


def _bench_sync(n: int) -> int:
    from app.devtools.bench import sync

    return sync.run(n)


def _bench_console(n: int) -> int:
    from app.devtools.bench import console

    return console.run(n)


def cmd_fuzz(args) -> int:
    from app.devtools import fuzz

    return fuzz.run(args.n, args.seed, args.url)


def cmd_chaos(args) -> int:
    from app.devtools.chaos import command as chaos

    return chaos.run(args)


def cmd_demo(args) -> int:
    from app.devtools import demo

    return demo.run()


def _serve_on(port: int) -> None:
    """The port served is the one links point at: Stripe's success_url, emails, webhooks."""
    os.environ["MPANEL_APP_PORT"] = str(port)
    os.environ.setdefault("APP_URL", f"http://127.0.0.1:{port}")


def cmd_serve(args) -> int:
    from app.cli import web

    _serve_on(args.port)
    return web.run(args)


def cmd_run(args) -> int:
    """Everything a developer needs, in the foreground until Ctrl-C.

    Each part that dies is started again with backoff and reported in one line: the web
    app and the worker here, each local server by its supervisor (reported here too);
    one part dying never stops the others."""
    from app import db
    from stacks.keepalive import KeepAlive, die_with_parent
    from tools.services import supervisor
    from tools.services.layout import current

    _serve_on(args.port)
    layout = current()
    servers_were_up = supervisor.read_run_file(layout) is not None
    supervisor.start_detached(layout)
    settings = Settings.from_env()
    db.upgrade(settings.DATABASE_URL)
    keeper = KeepAlive(say=_say_run)
    with_parent = die_with_parent()
    keeper.add("web app", lambda: subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", args.host, "--port", str(args.port),
         "--threads", str(args.threads), "--processes", str(args.processes)], preexec_fn=with_parent))
    keeper.add("worker", lambda: subprocess.Popen([sys.executable, "-m", "app.cli", "worker"],
                                                  preexec_fn=with_parent))
    print(f"""
mpanel is running:
  app            http://127.0.0.1:{args.port}   ({args.processes} serving processes; marketing API key: {settings.MARKETING_API_KEY})
  worker         {worker_concurrency()} processes converging subscription stacks
  Stripe         {settings.STRIPE_API_BASE}  (stand-in; hosted checkout pages at /c/pay/<session>)
  mail sent      {settings.SMTP_MAILDIR}  (every message the app sends)
  test mode      {"on: a checkout with testMode true and promoCode " + settings.MARKETING_OVERRIDE_CODE + " is free (the seed's curl works as written)" if settings.MARKETING_TEST_MODE else "off"}
  try it         .venv/bin/mpanel demo      (the seed's checklist, end to end)
  operators      .venv/bin/mpanel stacks list | preview ID | doctor
Ctrl-C stops everything{"" if not servers_were_up else " but the local servers (they were up before)"}.""",
          flush=True)
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    servers = _ServerDeaths(layout)
    try:
        while not stop["flag"]:
            keeper.check()
            servers.report()
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        keeper.stop(timeout=30)
        if not servers_were_up:  # servers someone else started stay theirs to stop
            supervisor.stop_detached(layout)
    return 0


def _say_run(line: str) -> None:
    print(f"mpanel run: {line}", file=sys.stderr, flush=True)


class _ServerDeaths:
    """Reports, in `mpanel run`'s output, each local-server restart its supervisor made."""

    def __init__(self, layout):
        self.layout = layout
        self.seen = self._restarts(self._run_file())
        self.supervisor_gone = False

    def _run_file(self) -> dict | None:
        from tools.services import supervisor

        return supervisor.read_run_file(self.layout)

    @staticmethod
    def _restarts(run: dict | None) -> dict[str, int]:
        return {name: s.get("restarts", 0) for name, s in ((run or {}).get("servers") or {}).items()}

    def report(self) -> None:
        run = self._run_file()
        if run is None:
            if not self.supervisor_gone:
                self.supervisor_gone = True
                _say_run(f"the local servers' supervisor is gone; nothing restarts them now (log "
                         f"{self.layout.root / 'supervisor.log'}); stop mpanel run and start it again")
            return
        self.supervisor_gone = False
        for name, count in self._restarts(run).items():
            if count > self.seen.get(name, 0):
                _say_run(f"local server {run['servers'][name].get('last_death') or name + ' restarted'}")
            self.seen[name] = count


def _subscription_id(text: str) -> int:
    return int(text.removeprefix("sub-"))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mpanel", description="Provisioning engine for web-hosting companies")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("version", help="the installed release (and the checkout's git describe)").set_defaults(
        fn=cmd_version)
    su = sub.add_parser("setup", help="install Debian packages and build the Pulumi engine (cached)")
    su.add_argument("--worker", action="store_true",
                    help="only what a production worker needs: the engine and its plugins (no PostgreSQL, "
                         "PowerDNS, Dovecot, OpenSSH server or Chromium)")
    su.set_defaults(fn=cmd_setup)

    ins = sub.add_parser("install", help="the production layout: system user mpanel, /etc/mpanel/mpanel.env, "
                                         "systemd units, the nginx site (as root)")
    ins.add_argument("--root", default="/", help="install under this directory instead of / (paths in the files "
                                                 "point inside it; the system user is still created, once)")
    ins.add_argument("--server-name", required=True, help="the panel's public host name (APP_URL, nginx, TLS)")
    ins.add_argument("--app-port", type=int, default=app_port(), help="where the app listens on 127.0.0.1")
    ins.add_argument("--https-port", type=int, default=443)
    ins.add_argument("--http-port", type=int, default=80)
    ins.add_argument("--tls-cert", help="the certificate chain nginx serves (default Let's Encrypt's live path)")
    ins.add_argument("--tls-key", help="its private key")
    ins.add_argument("--python", default=sys.executable,
                     help="the interpreter of the venv the units run (default: this one)")
    ins.set_defaults(fn=cmd_install)

    cf = sub.add_parser("config", help="check the configuration: every required variable, your own values, "
                                       "each endpoint probed")
    cf.add_argument("action", choices=["check"])
    cf.add_argument("--env-file", help="default /etc/mpanel/mpanel.env when it exists, else the environment")
    cf.add_argument("--no-probe", action="store_true", help="the file and the catalogue only, no endpoint probed")
    cf.set_defaults(fn=cmd_config)

    from app.cli.catalogue import add_parsers as add_catalogue_parsers

    add_catalogue_parsers(sub)

    s = sub.add_parser("services", help="local servers: PostgreSQL, PowerDNS, pebble, Dovecot, SMTP, stand-ins")
    s.add_argument("action", choices=["up", "down", "status"])
    s.add_argument("--foreground", action="store_true", help="with up: supervise in this process until Ctrl-C")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_services)

    d = sub.add_parser("db", help="database schema")
    d.add_argument("action", choices=["upgrade", "status"],
                   help="upgrade: apply pending migrations (they only add: old workers keep running); "
                        "status: applied and pending ones (exit 3 when some are pending)")
    d.set_defaults(fn=cmd_db)

    sub.add_parser("doctor", help="check every component for real").set_defaults(fn=cmd_doctor)
    sub.add_parser("demo", help="the seed's local testing checklist against the running system").set_defaults(
        fn=cmd_demo)

    w = sub.add_parser("worker", help="run converge jobs from the queue")
    w.add_argument("--concurrency", type=int, default=worker_concurrency(),
                   help="converge processes (each converges one stack at a time); billing, mail and "
                        "maintenance get one more of their own")
    w.add_argument("--queues", default=None, help=argparse.SUPPRESS)  # one child's queues (set by the parent)
    w.set_defaults(fn=cmd_worker)

    st = sub.add_parser("stacks", help="see, preview, converge, refresh and destroy subscription stacks")
    st.add_argument("action", choices=["list", "preview", "up", "refresh", "destroy", "history", "export", "cancel",
                                       "migrate"])
    st.add_argument("subscription_id", type=_subscription_id, nargs="*", metavar="ID",
                    help="a subscription id (or its stack, sub-ID); migrate takes several")
    st.add_argument("--all", action="store_true", help="migrate: every stack in the backend")
    st.add_argument("--dry-run", action="store_true", help="migrate: say what would change, change nothing")
    st.add_argument("--yes", action="store_true", help="destroy: skip typing the domain to confirm")
    st.add_argument("--cancel-billing", action="store_true",
                    help="destroy: cancel the Stripe subscription too (refused while billing is active otherwise)")
    st.set_defaults(fn=cmd_stacks)

    bl = sub.add_parser("billing", help="billing anomalies: Stripe events our records do not support")
    bl.add_argument("action", choices=["anomalies"])
    bl.add_argument("--all", action="store_true", help="resolved ones too")
    bl.add_argument("--subscription", type=int, default=None, help="only those of this order")
    bl.add_argument("--json", action="store_true")
    bl.set_defaults(fn=cmd_billing)

    from app.cli.backup import add_parser as add_backup_parser
    from app.cli.servers import add_parser as add_servers_parser

    add_servers_parser(sub)
    add_backup_parser(sub)

    from app.cli.imports import add_parser as add_imports_parser

    add_imports_parser(sub)

    from app.cli.backups import add_parser as add_backups_parser

    add_backups_parser(sub)

    k = sub.add_parser("keys", help="rotate: re-seal every stored secret with the newest MPANEL_ENCRYPTION_KEY")
    k.add_argument("action", choices=["rotate"])
    k.set_defaults(fn=cmd_keys)

    sf = sub.add_parser("staff", help="operators' console accounts: add, list, disable, enable, totp")
    sf.add_argument("action", choices=["add", "list", "disable", "enable", "totp", "token"])
    sf.add_argument("email", nargs="?")
    sf.add_argument("--role", choices=["owner", "admin", "support"], help="add: the account's role")
    sf.add_argument("--link", action="store_true", help="add: print a set-password link instead of a password")
    sf.add_argument("--scope", default="read", help="token: read, actions or read,actions")
    sf.set_defaults(fn=cmd_staff)

    b = sub.add_parser("bench", help="measure speed against the local servers")
    b.add_argument("what", choices=["providers", "converge", "journey", "imports", "standins", "console",
                                    "floor", "profile", "scale", "sync", "takeover", "webhooks"])
    b.add_argument("--stacks", type=int, default=10, help="scale: subscriptions' stacks to create")
    b.add_argument("--rows", type=int, default=0, help="scale: pad the subscriptions table to this many rows")
    b.add_argument("--concurrency", type=int, default=2, help="scale: engine runs at once (the worker's default)")
    b.add_argument("--reuse", action="store_true", help="scale: count stacks an earlier run built and left converged")
    b.add_argument("--drift-sample", type=int, default=0,
                   help="scale: drift-check only this many of the stacks (0: all) and extrapolate")
    b.add_argument("--drain", type=int, default=20, help="journey: paid checkouts at once, timed until all are welcomed")
    b.add_argument("--accounts", type=int, default=1000,
                   help="takeover: accounts another system left on the server (the sync report's size)")
    b.add_argument("--imports", type=int, default=100, help="takeover: of them, accounts imported one by one")
    b.add_argument("-n", type=int, default=5, help="samples per figure")
    b.set_defaults(fn=cmd_bench)

    f = sub.add_parser("fuzz", help="send generated checkout payloads; fails on any 5xx or a 4xx that wrote rows")
    f.add_argument("-n", type=int, default=1000, help="payloads to send")
    f.add_argument("--seed", type=int, default=0, help="the generator's seed (same seed, same payloads)")
    f.add_argument("--url", default=None, help="a running mpanel, e.g. http://127.0.0.1:2271 (default: in process)")
    f.set_defaults(fn=cmd_fuzz)

    c = sub.add_parser("chaos", help="paid orders through redeliveries, forgeries, SIGKILLs and outages, against "
                                     "the running system; fails when an invariant breaks")
    c.add_argument("--checkouts", type=int, default=4, help="paid checkouts (M; the issue's target run: 50)")
    c.add_argument("--deliveries", type=int, default=40, help="webhook deliveries (N; target 1000)")
    c.add_argument("--kills", type=int, default=4, help="SIGKILLs of worker and engine processes (K; target 100)")
    c.add_argument("--outages", default="powerdns,postgres,whm,namesilo,stripe",
                   help="comma-separated: powerdns, dovecot, pebble, postgres, whm, namesilo, stripe, "
                        "permanent, or all (the target)")
    c.add_argument("--kill-targets", choices=["all", "engine", "workers"], default="all",
                   help="what the SIGKILLs hit: worker children and engine processes (all), or only one kind")
    c.add_argument("--outage-seconds", type=float, default=8, help="how long each outage lasts")
    c.add_argument("--spread", type=float, default=30, help="seconds over which deliveries and kills are spread")
    c.add_argument("--settle", type=float, default=900, help="seconds to wait for quiet before checking")
    c.add_argument("--seed", type=int, default=None, help="the random choices' seed (printed)")
    c.add_argument("--url", default=None, help="the running app (default APP_URL or 127.0.0.1:MPANEL_APP_PORT)")
    c.add_argument("--whm-outage", type=float, default=0, metavar="SECONDS",
                   help="instead: one paid order while WHM answers 503 for SECONDS; time from its return to active")
    c.set_defaults(fn=cmd_chaos)

    for name, fn, help_ in (("serve", cmd_serve, "run the web application"),
                            ("run", cmd_run, "local servers + database + application, until Ctrl-C")):
        c = sub.add_parser(name, help=help_)
        c.add_argument("--host", default="127.0.0.1")
        c.add_argument("--port", type=int, default=app_port())
        c.add_argument("--threads", type=int, default=16, help="threads of each serving process")
        c.add_argument("--processes", type=int, default=web_processes(),
                       help="serving processes sharing the port (default MPANEL_WEB_PROCESSES, 2); 1: this one alone")
        c.set_defaults(fn=fn)
    # A serving process `serve --processes N` started: it answers on the socket its parent opened.
    sub.choices["serve"].add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)
    return p


# The long-running processes count metrics into one directory that `/metrics` sums
# (prometheus_client's multiprocess mode); their children and the engine's provider server
# inherit the variable. It must be set before anything imports prometheus_client.
COUNTING = ("serve", "worker", "run")


def count_metrics_in(directory, *, fresh: bool = False) -> None:
    """`fresh`: `mpanel run` owns every process that counts there, so the last run's files go."""
    import shutil

    if fresh:
        shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra and args.command == "stacks" and all(x.removeprefix("sub-").isdigit() for x in extra):
        # ids after an option (`migrate --dry-run 4 5`): argparse gave the positional its (empty) share already
        args.subscription_id += [_subscription_id(x) for x in extra]
    elif extra:
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command in COUNTING:
        count_metrics_in(metrics_dir(), fresh=args.command == "run")
    try:
        preflight(args.command, Settings.from_env())
        return args.fn(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        reason = explain(exc)
        if reason is None:
            raise
        print(f"mpanel {args.command}: {reason}", file=sys.stderr, flush=True)
        return 1
