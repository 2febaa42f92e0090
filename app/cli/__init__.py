"""The `mpanel` command: setup, local servers, database, doctor, the app."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from app.settings import Settings


def cmd_setup(args) -> int:
    from tools import debian, pulumi_cli

    started = time.monotonic()
    debian.ensure()
    pulumi_cli.build_cli()
    pulumi_cli.build_command_plugin()
    print(f"setup done in {time.monotonic() - started:.0f}s; Pulumi CLI at {pulumi_cli.cli_path()}")
    return 0


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

    applied = db.upgrade(Settings.from_env().DATABASE_URL)
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def cmd_doctor(args) -> int:
    from app.cli import doctor

    return doctor.report(doctor.run(Settings.from_env()))


def cmd_worker(args) -> int:
    from app.cli import worker

    return worker.run(args.concurrency)


def cmd_stacks(args) -> int:
    from app.cli import stacks as stacks_cli

    return stacks_cli.main(args.action, args.subscription_id)


def cmd_bench(args) -> int:
    from app.cli import bench

    return {"providers": bench.bench_providers, "converge": bench.bench_converge,
            "journey": bench.bench_journey, "imports": bench.bench_imports}[args.what](args.n)


def cmd_demo(args) -> int:
    from app.cli import demo

    return demo.run()


def _serve_on(port: int) -> None:
    """The port served is the one links point at: Stripe's success_url, emails, webhooks."""
    os.environ["MPANEL_APP_PORT"] = str(port)
    os.environ.setdefault("APP_URL", f"http://127.0.0.1:{port}")


def cmd_serve(args) -> int:
    from waitress import serve

    _serve_on(args.port)
    from app import create_app

    print(f"mpanel app on http://{args.host}:{args.port}", flush=True)
    serve(create_app(), host=args.host, port=args.port, threads=args.threads, ident="mpanel")
    return 0


def cmd_run(args) -> int:
    """Everything a developer needs, in the foreground until Ctrl-C."""
    from app import db
    from tools.services import supervisor
    from tools.services.layout import current

    _serve_on(args.port)
    layout = current()
    try:
        supervisor.start_detached(layout)
    except supervisor.ServiceError as exc:
        print(f"mpanel services: {exc}", file=sys.stderr)
        return 1
    settings = Settings.from_env()
    db.upgrade(settings.DATABASE_URL)
    children = [
        subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--host", args.host, "--port", str(args.port),
                          "--threads", str(args.threads)]),
        subprocess.Popen([sys.executable, "-m", "app.cli", "worker"]),
    ]
    print(f"""
mpanel is running:
  app            http://127.0.0.1:{args.port}   (marketing API key: {settings.MARKETING_API_KEY})
  worker         {os.environ.get("MPANEL_WORKER_CONCURRENCY", 2)} processes converging subscription stacks
  Stripe         {settings.STRIPE_API_BASE}  (stand-in; hosted checkout pages at /c/pay/<session>)
  mail sent      {settings.SMTP_MAILDIR}  (every message the app sends)
  try it         .venv/bin/mpanel demo      (the seed's checklist, end to end)
  operators      .venv/bin/mpanel stacks list | preview ID | doctor
Ctrl-C stops everything.""", flush=True)
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    try:
        while not stop["flag"] and all(c.poll() is None for c in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
        supervisor.stop_detached(layout)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mpanel", description="Provisioning engine for web-hosting companies")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("setup", help="install Debian packages and build the Pulumi engine (cached)").set_defaults(fn=cmd_setup)

    s = sub.add_parser("services", help="local servers: PostgreSQL, PowerDNS, pebble, Dovecot, SMTP, stand-ins")
    s.add_argument("action", choices=["up", "down", "status"])
    s.add_argument("--foreground", action="store_true", help="with up: supervise in this process until Ctrl-C")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_services)

    d = sub.add_parser("db", help="database schema")
    d.add_argument("action", choices=["upgrade"])
    d.set_defaults(fn=cmd_db)

    sub.add_parser("doctor", help="check every component for real").set_defaults(fn=cmd_doctor)
    sub.add_parser("demo", help="the seed's local testing checklist against the running system").set_defaults(
        fn=cmd_demo)

    w = sub.add_parser("worker", help="run converge jobs from the queue")
    w.add_argument("--concurrency", type=int, default=int(os.environ.get("MPANEL_WORKER_CONCURRENCY", 2)),
                   help="worker processes (each converges one stack at a time)")
    w.set_defaults(fn=cmd_worker)

    st = sub.add_parser("stacks", help="see, preview, converge, refresh and destroy subscription stacks")
    st.add_argument("action", choices=["list", "preview", "up", "refresh", "destroy", "history", "export", "cancel"])
    st.add_argument("subscription_id", type=int, nargs="?")
    st.set_defaults(fn=cmd_stacks)

    b = sub.add_parser("bench", help="measure speed against the local servers")
    b.add_argument("what", choices=["providers", "converge", "journey", "imports"])
    b.add_argument("-n", type=int, default=5, help="samples per figure")
    b.set_defaults(fn=cmd_bench)

    for name, fn, help_ in (("serve", cmd_serve, "run the web application"),
                            ("run", cmd_run, "local servers + database + application, until Ctrl-C")):
        c = sub.add_parser(name, help=help_)
        c.add_argument("--host", default="127.0.0.1")
        c.add_argument("--port", type=int, default=int(os.environ.get("MPANEL_APP_PORT", 2271)))
        c.add_argument("--threads", type=int, default=16)
        c.set_defaults(fn=fn)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.fn(args)


