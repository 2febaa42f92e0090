"""Configuration, read from the environment under the seed's variable names.

Anything not set in the environment falls back to the local services started by
`mpanel services up` (their endpoints are written to <state dir>/endpoints.json),
so a fresh checkout runs with no configuration at all, and pointing mpanel at the
real Stripe, NameSilo or WHM is a matter of exporting the seed's variables.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]  # the repository root (this checkout)


def state_dir() -> Path:
    return Path(os.environ.get("MPANEL_STATE_DIR") or CHECKOUT / ".state").resolve()


def port_base() -> int:
    return int(os.environ.get("MPANEL_PORT_BASE") or 24000)


# How the processes themselves run, read by the command line before any Settings exist.

def app_port() -> int:
    """The port `mpanel serve` and `mpanel run` listen on (links point at it)."""
    return int(os.environ.get("MPANEL_APP_PORT", 2271))


def worker_concurrency() -> int:
    """Converge processes `mpanel worker` starts."""
    return int(os.environ.get("MPANEL_WORKER_CONCURRENCY", 2))


def web_processes() -> int:
    """Serving processes `mpanel serve` and `mpanel run` start on the app's port (app/cli/web.py)."""
    return int(os.environ.get("MPANEL_WEB_PROCESSES", 2))


def log_level() -> str:
    return os.environ.get("MPANEL_LOG_LEVEL", "INFO")


def environment() -> dict[str, str]:
    """The process environment as it is now (`mpanel config check` checks what is set, not just its value)."""
    return dict(os.environ)


def adopt_env_file(values: dict[str, str]) -> None:
    """`mpanel config check --env-file`: the file's variables become this process's, as systemd's
    EnvironmentFile makes them the units' (the engine cache and state directory are read from here too)."""
    os.environ.update(values)


def log_format() -> str:
    """`plain` (one line per event) or `json` (one JSON object per line, for jq)."""
    return os.environ.get("MPANEL_LOG_FORMAT", "plain").strip().lower()


def metrics_dir() -> Path:
    """Where each process of `serve` and `worker` writes its counters for `/metrics` to sum
    (prometheus_client's multiprocess mode reads PROMETHEUS_MULTIPROC_DIR, under this name)."""
    return Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or state_dir() / "metrics")


def metrics_shared() -> bool:
    """Whether this process counts into the shared directory (prometheus_client decided it on import)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def local_endpoints(directory: Path | None = None) -> dict:
    path = (directory or state_dir()) / "endpoints.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


# The Stripe key `mpanel services up` generates for its stand-in, and the seed's override code.
LOCAL_STRIPE_KEY_PREFIX = "sk_test_mpanel_"
LOCAL_OVERRIDE_CODE = "TESTFREE"


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    # The seed's names (shared/seed, "Environment Variables").
    STRIPE_SECRET_KEY: str = ""
    STRIPE_WEBHOOK_SECRET: str = ""
    MARKETING_TEST_MODE: bool = False
    MARKETING_OVERRIDE_CODE: str = ""
    MARKETING_AUTO_PROVISION: bool = True
    NAMESILO_API_KEY: str = ""
    NAMESILO_SANDBOX: bool = False
    DEFAULT_WEB_SERVER_ID: int = 1
    CPANEL_WHM_URL: str = ""
    CPANEL_WHM_API_TOKEN: str = ""
    CPANEL_WHM_USERNAME: str = "root"
    SMTP_HOST: str = ""
    SMTP_PORT: int = 587
    SMTP_USER: str = ""
    SMTP_PASS: str = ""
    SMTP_FROM: str = "MigraHosting <noreply@migrahosting.com>"
    APP_URL: str = "http://127.0.0.1:2271"
    MARKETING_SITE_URL: str = "https://migrahosting.com"
    NS1: str = "ns1.migrahosting.com"
    NS2: str = "ns2.migrahosting.com"
    # mpanel's own.
    # Lifecycle: days a failed renewal may stay unpaid before the account is suspended, and
    # days a canceled subscription's site is kept before its stack is destroyed.
    SUSPEND_AFTER_DAYS: float = 7.0
    TERMINATE_AFTER_DAYS: float = 30.0
    # Dunning: after a failed renewal payment the customer is told at once, then reminded on
    # these days after the failure; a negative day counts back from the suspension (-1: the
    # final warning the day before). Days on or after the suspension are skipped.
    DUNNING_REMINDER_DAYS: str = "1,3,-1"
    # A canceled order's customer is warned this many days before its account is removed.
    TERMINATION_WARNING_DAYS: float = 3.0
    # Domains registered through us with auto-renew off: reminders this many days before expiry.
    DOMAIN_EXPIRY_REMINDER_DAYS: str = "30,7"
    # Retention: finished jobs, engine events and processed Stripe events older than this many
    # days are removed daily (runs are kept), at most this many rows per transaction.
    MPANEL_RETENTION_DAYS: float = 30.0
    MPANEL_RETENTION_BATCH: int = 1000
    # A converge whose desired state is the one the last successful run applied does no engine
    # work while the stack's last refresh (a successful up or drift check) is younger than this
    # (app/services/hosting/converge.py); the nightly drift check keeps it young.
    MPANEL_DRIFT_WINDOW_HOURS: float = 24.0
    # The Pulumi history of each stack keeps its last MPANEL_HISTORY_KEEP updates and every update
    # of the last MPANEL_HISTORY_DAYS days; older ones are pruned daily (app/services/hosting/history.py).
    MPANEL_HISTORY_KEEP: int = 50
    MPANEL_HISTORY_DAYS: float = 90.0
    MARKETING_API_KEY: str = ""
    DATABASE_URL: str = ""
    MAILCORE_DATABASE_URL: str = ""
    PULUMI_BACKEND_URL: str = ""
    PULUMI_CONFIG_PASSPHRASE: str = ""
    POWERDNS_API_URL: str = ""
    POWERDNS_API_KEY: str = ""
    POWERDNS_DNS_ADDRESS: str = ""
    # host:port of the resolver asked whether an external domain is delegated to NS1/NS2 (the
    # domain page's live check); empty: the machine's own resolvers (/etc/resolv.conf).
    DELEGATION_RESOLVER: str = ""
    ACME_DIRECTORY_URL: str = ""
    ACME_CA_BUNDLE: str = ""
    # PEM file of the ACME account key; created on first use when missing.
    ACME_ACCOUNT_KEY_PATH: str = ""
    # Fernet keys for secrets mpanel stores itself (transfer auth codes, DKIM keys at rest):
    # comma-separated, newest first; `mpanel keys rotate` re-seals everything with the first.
    MPANEL_ENCRYPTION_KEY: str = ""
    # Signs the customer panel's session cookies; only the web app has it (never the engine
    # or the providers, which do get MPANEL_ENCRYPTION_KEY). Empty: a random key per process.
    MPANEL_SESSION_KEY: str = ""
    # Staff log in only with a second factor (`mpanel staff totp EMAIL` gives one).
    MPANEL_STAFF_REQUIRE_TOTP: bool = False
    IMAP_ADDRESS: str = ""
    # Where the mail-core server keeps maildirs (<root>/<domain>/<local part>).
    MAILCORE_MAIL_ROOT: str = ""
    # How sites are published on the web servers: SSH as this user (empty: the cPanel
    # user itself) with this key, into <home root>/<cPanel user>/public_html.
    SSH_ADDRESS: str = ""
    SITES_SSH_USER: str = ""
    SITES_SSH_KEY_PATH: str = ""
    # The web server's public SSH host key (a .pub file), pinned when its servers row records none.
    SITES_SSH_HOST_KEY_FILE: str = ""
    # Where operators' alerts go (empty: support@ the marketing site's domain), and after how
    # many failed runs in a row a subscription is flagged "needs attention".
    OPS_EMAIL: str = ""
    MPANEL_ATTENTION_AFTER_FAILURES: int = 5
    # An engine run (up, refresh, destroy) still going after this long is killed (the engine's
    # whole process group) and the stack recovered; the run is recorded failed and retried.
    MPANEL_RUN_TIMEOUT_SECONDS: float = 900.0
    # Worker liveness (app/services/hosting/workers.py): each process running engine runs heartbeats
    # this often; one silent for longer than MPANEL_WORKER_DEAD_AFTER_SECONDS is dead, and any
    # other worker recovers its runs and jobs.
    MPANEL_WORKER_HEARTBEAT_SECONDS: float = 10.0
    MPANEL_WORKER_DEAD_AFTER_SECONDS: float = 60.0
    # An email claimed for sending (app.mail) whose sender said nothing for this long is retaken.
    MPANEL_EMAIL_CLAIM_TIMEOUT_SECONDS: float = 600.0
    # A billing or mail job still `doing` after this long is handed back to its queue
    # (app/services/hosting/workers.py hand_back_stuck_jobs).
    MPANEL_STUCK_JOB_SECONDS: float = 900.0
    # A paid, provisioned order whose welcome email is still unsent this long after its stack
    # became ready flags its subscription "needs attention" (app/services/overdue.py).
    MPANEL_WELCOME_DEADLINE_MINUTES: float = 10.0
    SITES_HOME_ROOT: str = "/home"
    # Where mpanel keeps each backup (WHM's archive + the mail-core mail + a manifest), one
    # directory per backup: app/services/hosting/account_backups.py. Empty: <state dir>/backups.
    MPANEL_BACKUP_DIR: str = ""
    SMTP_MAILDIR: str = ""
    ACME_MANAGEMENT_URL: str = ""
    NAMESILO_API_URL: str = ""
    STRIPE_API_BASE: str = ""
    MAIL_SERVER_HOST: str = ""
    # Domain eligibility (app/services/orders/eligibility.py). Domains never sold besides the
    # operator's own hosts (comma-separated; each refuses its registrable domain and every
    # name under it), and the most the registrar may charge for a new registration's first
    # year, in USD (premium names are refused whatever their price).
    MPANEL_RESERVED_DOMAINS: str = ""
    MPANEL_REGISTRATION_PRICE_CEILING: float = 20.0
    # Checkout intents one email address, and one client address, may start in an hour
    # (app/services/orders/checkout_limits.py); 0: no limit.
    MPANEL_CHECKOUT_LIMIT_PER_EMAIL: int = 5
    MPANEL_CHECKOUT_LIMIT_PER_ADDRESS: int = 20
    # Reverse proxies (comma-separated addresses or CIDR networks, e.g. nginx on 127.0.0.1) whose
    # X-Forwarded-For / X-Forwarded-Proto are believed (app/web/proxy.py); empty: none, the
    # connecting peer is the client.
    MPANEL_TRUSTED_PROXIES: str = ""
    # "production" (written by `mpanel install`): `mpanel config check` refuses the placeholder
    # defaults and the sandbox catalogue, and the local servers' endpoints file is never read.
    MPANEL_ENV: str = ""
    # How the worker reaches the mail host's maildirs (providers/clients/maildirs.py): "local"
    # (this machine is the mail host, under MAILCORE_MAIL_ROOT) or "ssh://user@host[:port]"
    # (the mail host, over SSH with MAILCORE_SSH_KEY_PATH).
    MAILCORE_MAIL_ACCESS: str = "local"
    MAILCORE_SSH_KEY_PATH: str = ""
    # Who may read /metrics (app/web/metrics.py): peers in these addresses or networks
    # (comma-separated), or anyone presenting this bearer token (empty: no token accepted).
    MPANEL_METRICS_ALLOW: str = "127.0.0.1,::1"
    MPANEL_METRICS_TOKEN: str = ""
    # Not a variable: whether STRIPE_API_BASE came from the environment (a stand-in chosen on
    # purpose, whatever the key) rather than from the local servers' endpoints file.
    stripe_api_base_from_env: bool = field(default=False, metadata={"derived": True})

    @classmethod
    def from_env(cls, environ: dict | None = None, local: dict | None = None) -> "Settings":
        env = dict(os.environ if environ is None else environ)
        if env.get("MPANEL_ENV", "").strip().lower() == "production":
            local = {}  # an installed system is configured by its env file alone, never a sandbox's
        local = local_endpoints() if local is None else local
        values: dict = {}
        for name, f in cls.__dataclass_fields__.items():
            if f.metadata.get("derived"):
                continue
            # Set in the environment (even to ""): that is the value. Absent: the local servers'.
            raw = env[name] if name in env else local.get(name)
            if raw is None or (raw == "" and f.type in ("bool", "int", "float")):
                continue
            if f.type == "bool":
                values[name] = raw if isinstance(raw, bool) else _flag(str(raw), f.default)
            elif f.type == "int":
                values[name] = int(raw)
            elif f.type == "float":
                values[name] = float(raw)
            else:
                values[name] = str(raw)
        # The local sandbox (every paid service a stand-in, recognisable by the generated Stripe
        # key) is a trial: the seed's test checkout with its override code works as written.
        # Anything pointing at a real Stripe keeps test mode off unless the environment says so.
        if str(values.get("STRIPE_SECRET_KEY", "")).startswith(LOCAL_STRIPE_KEY_PREFIX):
            if "MARKETING_TEST_MODE" not in env:
                values["MARKETING_TEST_MODE"] = True
            if "MARKETING_OVERRIDE_CODE" not in env and not values.get("MARKETING_OVERRIDE_CODE"):
                values["MARKETING_OVERRIDE_CODE"] = LOCAL_OVERRIDE_CODE
        values["stripe_api_base_from_env"] = bool(env.get("STRIPE_API_BASE"))
        return cls(**values)
