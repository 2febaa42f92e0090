"""`mpanel doctor`: each component, its version, and whether it really works."""
from __future__ import annotations

import imaplib
import secrets
import shutil
import smtplib
import subprocess
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Callable

import psycopg
import requests

from app.settings import Settings
from stacks import install


@dataclass
class Check:
    name: str
    ok: bool
    version: str = ""
    detail: str = ""
    blocked: bool = False  # cannot work on this machine, known and documented


def _run(name: str, probe: Callable[[], tuple[str, str]]) -> Check:
    try:
        ver, detail = probe()
        return Check(name, True, ver, detail)
    except Exception as exc:  # a doctor reports, it does not crash
        return Check(name, False, "", f"{type(exc).__name__}: {exc}".splitlines()[0][:200])


def check_cli(_: Settings):
    out = subprocess.run([str(install.cli_path()), "version"], capture_output=True, text=True, check=True)
    got, want = out.stdout.strip(), "v" + install.sdk_version()
    if got != want:
        raise RuntimeError(f"CLI is {got}, Python SDK wants {want}")
    return got, str(install.cli_path())


def check_sdk(_: Settings):
    return version("pulumi"), "pulumi Python SDK"


def check_launcher(_: Settings):
    path = install.bin_dir() / "pulumi-resource-pulumi-python"
    if not path.exists():
        raise FileNotFoundError(path)
    return "", str(path)


def check_postgres(s: Settings):
    with psycopg.connect(s.DATABASE_URL, connect_timeout=3) as conn:
        ver = conn.execute("show server_version").fetchone()[0]
        n = conn.execute("select count(*) from schema_migrations").fetchone()[0]
    return ver, f"{n} migrations applied"


def check_powerdns(s: Settings):
    r = requests.get(f"{s.POWERDNS_API_URL}/api/v1/servers/localhost",
                     headers={"X-API-Key": s.POWERDNS_API_KEY, "Accept": "application/json"}, timeout=3)
    r.raise_for_status()
    return r.json()["version"], s.POWERDNS_API_URL


def check_pebble(s: Settings):
    r = requests.get(s.ACME_DIRECTORY_URL, verify=s.ACME_CA_BUNDLE or True, timeout=3)
    r.raise_for_status()
    return "", f"{s.ACME_DIRECTORY_URL} (newOrder {'present' if 'newOrder' in r.json() else 'missing'})"


def check_dovecot(s: Settings):
    """Log in as a throw-away mailbox and SELECT INBOX (a bare LOGIN can pass while SELECT fails)."""
    from providers.clients.mailcore import hash_password


    host, port = (s.IMAP_ADDRESS or "127.0.0.1:143").split(":")
    address, password = f"doctor-{secrets.token_hex(4)}@doctor.invalid", secrets.token_urlsafe(12)
    with psycopg.connect(s.MAILCORE_DATABASE_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute("insert into mail_domains (name) values ('doctor.invalid') on conflict do nothing")
        conn.execute("insert into mailboxes (address, local_part, domain, password_hash) values (%s, %s, %s, %s)",
                     (address, address.split("@")[0], "doctor.invalid", hash_password(password)))
        try:
            imap = imaplib.IMAP4(host, int(port), timeout=5)
            greeting = imap.welcome.decode()
            imap.login(address, password)
            status, _ = imap.select("INBOX")
            imap.logout()
            if status != "OK":
                raise RuntimeError("login worked but SELECT INBOX failed")
        finally:
            conn.execute("delete from mail_domains where name = 'doctor.invalid'")
            if s.MAILCORE_MAIL_ROOT:  # the login created a maildir for the throw-away mailbox (on the mail host)
                from providers.clients.maildirs import maildirs_for

                maildirs_for(s.MAILCORE_MAIL_ACCESS, s.MAILCORE_SSH_KEY_PATH).remove(
                    Path(s.MAILCORE_MAIL_ROOT) / "doctor.invalid")
    return subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.split()[0], greeting


def check_smtp(s: Settings):
    with smtplib.SMTP(s.SMTP_HOST, s.SMTP_PORT, timeout=5) as smtp:
        code, banner = smtp.ehlo()
        if code != 250:
            raise RuntimeError(f"EHLO answered {code}")
    return "", f"{s.SMTP_HOST}:{s.SMTP_PORT} {banner.decode().splitlines()[0]}"


def check_whm(s: Settings):
    r = requests.get(f"{s.CPANEL_WHM_URL}/json-api/listpkgs", params={"api.version": 1}, timeout=10,
                     headers={"Authorization": f"whm {s.CPANEL_WHM_USERNAME}:{s.CPANEL_WHM_API_TOKEN}"})
    if r.status_code == 403:
        raise RuntimeError("access denied: check CPANEL_WHM_API_TOKEN")
    body = r.json()
    if not body.get("metadata", {}).get("result"):
        raise RuntimeError(body.get("metadata", {}).get("reason", "listpkgs failed"))
    return "API 1", f"{s.CPANEL_WHM_URL} ({len(body['data']['pkg'])} packages)"


def check_namesilo(s: Settings):
    from providers.core.http import http, redact

    # Through the providers' HTTP boundary: its errors never carry the key-bearing URL.
    r = http("namesilo", "GET", f"{s.NAMESILO_API_URL}/listDomains", timeout=10,
             params={"version": 1, "type": "json", "key": s.NAMESILO_API_KEY})
    code = int(r.json()["reply"]["code"])
    if code != 300:
        raise RuntimeError(f"reply code {code} from {redact(r.url)}")
    return "", s.NAMESILO_API_URL


def check_stripe(s: Settings):
    from app.services.orders import billing

    billing.client(s).v1.products.list(params={"limit": 1})
    return "", s.STRIPE_API_BASE if billing.uses_sandbox(s) else "api.stripe.com"


def check_ssh(s: Settings):
    import socket

    host, port = (s.SSH_ADDRESS or "127.0.0.1:22").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        banner = conn.recv(64).decode(errors="replace").strip()
    if not banner.startswith("SSH-2.0-"):
        raise RuntimeError(f"not an SSH server: {banner!r}")
    return banner.split("-", 2)[-1], s.SSH_ADDRESS


def check_engine(s: Settings):
    """A real round trip: up, preview and destroy of a one-resource stack."""
    import pulumi

    from app.devtools.probe import ProbeFile
    from app.services.hosting.engine import engine_config
    from stacks import engine

    path = Path(tempfile.mkdtemp()) / "probe.txt"

    def program():
        ProbeFile("probe", str(path), "doctor")

    name = f"doctor-{secrets.token_hex(3)}"
    stack = engine.inline_stack(engine_config(s), name, program)
    try:
        stack.up()
        if path.read_text() != "doctor":
            raise RuntimeError("dynamic provider did not write its file")
        changes = stack.preview().change_summary
        stack.destroy()
    finally:
        stack.workspace.remove_stack(name, force=True)
        shutil.rmtree(stack.workspace.work_dir, ignore_errors=True)
    return pulumi.__version__ if hasattr(pulumi, "__version__") else "", f"up/preview/destroy ok ({changes})"


CHECKS = [
    ("Pulumi CLI", check_cli), ("Pulumi Python SDK", check_sdk), ("dynamic provider launcher", check_launcher),
    ("PostgreSQL", check_postgres), ("PowerDNS API", check_powerdns), ("pebble ACME directory", check_pebble),
    ("Dovecot IMAP login", check_dovecot), ("SMTP", check_smtp), ("OpenSSH (sites)", check_ssh),
    ("WHM API", check_whm), ("NameSilo API", check_namesilo), ("Stripe API", check_stripe),
    ("Pulumi engine round trip", check_engine),
]


def command_plugin_check(settings: Settings) -> Check:
    """The pulumi-command plugin as the engine sees it (`pulumi plugin ls` in the engine's home)."""
    import json as _json

    from app.services.hosting.engine import engine_config
    from stacks import engine

    path = install.command_plugin_path()
    if not path.exists():
        failure = install.command_plugin_failure()
        reason = failure.read_text().strip().splitlines()[0] if failure.exists() else "not built: run `mpanel setup`"
        return Check("pulumi-command plugin", False, "", reason, blocked=failure.exists())
    listed = engine.cli(engine_config(settings), "plugin", "ls", "--json")
    versions = [p["version"] for p in _json.loads(listed.stdout or "[]") if p.get("name") == "command"]
    return Check("pulumi-command plugin", bool(versions), ", ".join(versions), str(path))


def run(settings: Settings) -> list[Check]:
    checks = [_run(name, lambda f=fn: f(settings)) for name, fn in CHECKS]
    try:
        checks.insert(1, command_plugin_check(settings))
    except Exception as exc:  # a doctor reports, it does not crash
        checks.insert(1, Check("pulumi-command plugin", False, "", f"{type(exc).__name__}: {exc}"[:200]))
    return checks


def report(checks: list[Check]) -> int:
    for c in checks:
        mark = "ok " if c.ok else ("BLOCKED" if c.blocked else "FAIL")
        print(f"{mark:7} {c.name:28} {c.version:24} {c.detail}")
    failed = [c for c in checks if not c.ok and not c.blocked]
    if failed:
        print(f"\n{len(failed)} component(s) not working: {', '.join(c.name for c in failed)}")
    return 1 if failed else 0
