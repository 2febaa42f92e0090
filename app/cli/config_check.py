"""`mpanel config check`: the env file complete, your own company's values, every endpoint working.

Three parts, one line each: the file itself (present, mode 0600), each required variable set
and not a placeholder (the defaults name another company: migrahosting.com), the catalogue the
sandbox seeds (the coupon LAUNCH20, the web server at web1.migrahosting.com) gone from a
production database, then `mpanel doctor`'s probe of each component. In production
(MPANEL_ENV=production) `mpanel serve` and `mpanel worker` refuse to start on the same
static findings (`production_refusals`, no probes), so a half-configured host never sells.
"""
from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from app.settings import Settings, adopt_env_file, environment

DEFAULT_ENV_FILE = Path("/etc/mpanel/mpanel.env")

# What the operator must set (app/cli/install.py writes them into the env file, in this order): the
# endpoints and keys of everything mpanel drives, and the company's own names.
REQUIRED = (
    "DATABASE_URL", "MAILCORE_DATABASE_URL", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE",
    "MPANEL_ENCRYPTION_KEY", "MARKETING_API_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
    "NAMESILO_API_KEY", "CPANEL_WHM_URL", "CPANEL_WHM_API_TOKEN", "POWERDNS_API_URL", "POWERDNS_API_KEY",
    "ACME_DIRECTORY_URL", "SMTP_HOST", "SMTP_FROM", "APP_URL", "MARKETING_SITE_URL", "NS1", "NS2",
    "MAIL_SERVER_HOST", "OPS_EMAIL", "MAILCORE_MAIL_ROOT", "IMAP_ADDRESS", "SSH_ADDRESS",
    "SITES_SSH_KEY_PATH", "MPANEL_TRUSTED_PROXIES",
)
# The example company of the seed: its names are placeholders, never an operator's.
PLACEHOLDER_DOMAIN = "migrahosting.com"
PLACEHOLDER_NAMES = ("SMTP_FROM", "MARKETING_SITE_URL", "NS1", "NS2", "MAIL_SERVER_HOST", "OPS_EMAIL", "APP_URL")
SANDBOX_COUPON = "LAUNCH20"


@dataclass
class Finding:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # worth saying, not a refusal


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile reads them (comments, blank lines and
    surrounding quotes aside)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        values[name.strip()] = value
    return values


def file_findings(path: Path) -> list[Finding]:
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    return [Finding("env file", mode & 0o077 == 0, f"{path} mode {mode:04o}"
                    + ("" if mode & 0o077 == 0 else ": holds every secret, make it 0600 (chmod 600)"))]


def setting_findings(settings: Settings, environ: dict) -> list[Finding]:
    found = []
    for name in REQUIRED:
        value = str(getattr(settings, name))
        if not environ.get(name) or not value:
            found.append(Finding(name, False, "not set"))
        elif name in PLACEHOLDER_NAMES and PLACEHOLDER_DOMAIN in value.lower():
            found.append(Finding(name, False, f"{value!r} is the example company's: set your own"))
    if settings.APP_URL and not settings.APP_URL.startswith("https://"):
        found.append(Finding("APP_URL", False, f"{settings.APP_URL} is not https: customers log in there"))
    try:
        from app.web.proxy import parse_networks

        parse_networks(settings.MPANEL_TRUSTED_PROXIES)
    except ValueError as exc:
        found.append(Finding("MPANEL_TRUSTED_PROXIES", False, str(exc)))
    if settings.STRIPE_SECRET_KEY.startswith(("sk_test_", "rk_test_")):
        found.append(Finding("STRIPE_SECRET_KEY", True, "a test-mode key: no real payment is taken", warning=True))
    if settings.MARKETING_TEST_MODE:
        found.append(Finding("MARKETING_TEST_MODE", True, "on: the override code gives free accounts", warning=True))
    return found


def catalogue_findings(settings: Settings) -> list[Finding]:
    """The sandbox's catalogue (migration 0002 seeds it on every database) still on sale."""
    import psycopg

    found = []
    with psycopg.connect(settings.DATABASE_URL, connect_timeout=5) as conn:
        coupon = conn.execute("SELECT expires_at FROM promo_codes WHERE upper(code) = %s AND active",
                              (SANDBOX_COUPON,)).fetchone()
        servers = conn.execute("SELECT id, hostname, host(ip_address) FROM servers WHERE status <> 'offline' "
                               "ORDER BY id").fetchall()
        plans = conn.execute("SELECT count(*) FROM plans WHERE active").fetchone()[0]
    if coupon is not None and coupon[0] is None:
        found.append(Finding("catalogue", False, f"the sandbox's coupon {SANDBOX_COUPON} (20% off, never expires) "
                                                 f"is on sale: `mpanel coupons retire {SANDBOX_COUPON}`"))
    for server_id, hostname, ip in servers:
        if PLACEHOLDER_DOMAIN in hostname:
            found.append(Finding("catalogue", False, f"web server {server_id} is the example {hostname}: "
                                                     f"`mpanel servers update {server_id} --hostname ... --ip ...`"))
        elif ip.startswith("127.") or ip == "::1":
            found.append(Finding("catalogue", True, f"web server {server_id} ({hostname}) has the loopback address "
                                                    f"{ip}: customers' DNS points there", warning=True))
    if not plans:
        found.append(Finding("catalogue", False, "no plan is on sale: `mpanel plans add`"))
    return found


def production_refusals(settings: Settings, environ: dict) -> list[Finding]:
    """What stops `serve` and `worker` in production: a missing or placeholder setting, the sandbox catalogue."""
    found = setting_findings(settings, environ)
    if settings.DATABASE_URL:
        found += catalogue_findings(settings)
    return [f for f in found if not f.ok]


def run(env_file: Path | None, probe: bool = True) -> int:
    if env_file is not None:
        if not env_file.exists():
            print(f"FAIL    env file                     {env_file} does not exist: run `mpanel install`")
            return 1
        values = read_env_file(env_file)
        adopt_env_file(values)
        findings = file_findings(env_file)
    else:
        findings = []
    environ = environment()
    settings = Settings.from_env(environ)
    findings += setting_findings(settings, environ)
    if settings.DATABASE_URL:
        try:
            findings += catalogue_findings(settings)
        except Exception as exc:  # reported with the PostgreSQL probe below too
            findings.append(Finding("catalogue", False, f"cannot read it: {type(exc).__name__}: {exc}"[:200]))
    required_ok = {n for n in REQUIRED} - {f.name for f in findings if not f.ok}
    findings.insert(len(findings) and 1, Finding("settings", True, f"{len(required_ok)} of {len(REQUIRED)} "
                                                              "required variables set to your own values"))
    for f in findings:
        mark = "warn" if f.warning else ("ok " if f.ok else "FAIL")
        print(f"{mark:7} {f.name:28} {f.detail}")
    failed = [f for f in findings if not f.ok]
    status = 1 if failed else 0
    if probe:
        from app.cli import doctor

        print()
        status = max(status, doctor.report(doctor.run(settings)))
    if failed:
        print(f"\nthe configuration is not ready: {len(failed)} finding(s) above"
              + (" (production refuses to start with them)" if settings.MPANEL_ENV == "production" else ""))
    return status
