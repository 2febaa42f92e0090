"""Where each local server lives: its ports, its directories and its generated secrets.

Everything is derived from two settings, the state directory and the port base, so
two checkouts (or a test run beside `make run`) never collide: give each its own
MPANEL_STATE_DIR and MPANEL_PORT_BASE.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

# Offsets from the port base; chosen to echo each protocol's usual port.
PORT_OFFSETS = {
    "postgres": 432,
    "dns": 53,
    "powerdns_api": 81,
    "acme": 14,
    "acme_mgmt": 15,
    "imap": 143,
    "smtp": 25,
    "mailcore_smtp": 26,
    "ssh": 22,
    "whm": 87,
    "namesilo": 88,
    "stripe": 111,
}

DATABASES = ("mpanel", "pulumi", "mailcore")


@dataclass(frozen=True)
class Layout:
    root: Path
    port_base: int

    def port(self, name: str) -> int:
        return self.port_base + PORT_OFFSETS[name]

    @property
    def app_port(self) -> int:
        """The web application's port: the seed's 2271 unless MPANEL_APP_PORT says otherwise."""
        return int(os.environ.get("MPANEL_APP_PORT") or 2271)

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    def dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def database_url(self, database: str, scheme: str = "postgresql") -> str:
        return f"{scheme}://postgres@127.0.0.1:{self.port('postgres')}/{database}"

    @property
    def ca_file(self) -> Path:
        return self.root / "pebble" / "ca.pem"

    def secrets(self) -> dict:
        """Generated once per state directory and kept there (mode 0600)."""
        path = self.root / "secrets.json"
        stored = json.loads(path.read_text()) if path.exists() else {}
        wanted = self._new_secrets()
        if wanted.keys() <= stored.keys():
            return stored
        values = {**wanted, **stored}
        _write_private_json(path, values)
        return values

    @staticmethod
    def _new_secrets() -> dict:
        from cryptography.fernet import Fernet

        return {
            "powerdns_api_key": secrets.token_hex(16),
            "whm_api_token": secrets.token_hex(16).upper(),
            "namesilo_api_key": secrets.token_hex(12),
            "pulumi_passphrase": secrets.token_urlsafe(24),
            "stripe_secret_key": "sk_test_mpanel_" + secrets.token_hex(12),
            "stripe_webhook_secret": "whsec_" + secrets.token_hex(16),
            "marketing_api_key": "mk_" + secrets.token_hex(16),
            "encryption_key": Fernet.generate_key().decode(),
            "session_key": secrets.token_urlsafe(32),
        }

    def endpoints(self) -> dict:
        """The settings (seed variable names) that point mpanel at these servers."""
        s = self.secrets()
        return {
            "DATABASE_URL": self.database_url("mpanel"),
            "MAILCORE_DATABASE_URL": self.database_url("mailcore"),
            "PULUMI_BACKEND_URL": self.database_url("pulumi", "postgres") + "?sslmode=disable",
            "PULUMI_CONFIG_PASSPHRASE": s["pulumi_passphrase"],
            "POWERDNS_API_URL": f"http://127.0.0.1:{self.port('powerdns_api')}",
            "POWERDNS_API_KEY": s["powerdns_api_key"],
            "POWERDNS_DNS_ADDRESS": f"127.0.0.1:{self.port('dns')}",
            "ACME_DIRECTORY_URL": f"https://localhost:{self.port('acme')}/dir",
            "ACME_MANAGEMENT_URL": f"https://localhost:{self.port('acme_mgmt')}",
            "ACME_CA_BUNDLE": str(self.ca_file),
            "IMAP_ADDRESS": f"127.0.0.1:{self.port('imap')}",
            "MAILCORE_MAIL_ROOT": str(self.root / "mailcore"),
            "MAIL_SERVER_HOST": "mail.migrahosting.com",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": self.port("smtp"),
            "SMTP_MAILDIR": str(self.root / "smtp" / "maildir"),
            "SSH_ADDRESS": f"127.0.0.1:{self.port('ssh')}",
            "SITES_SSH_USER": "root",
            "SITES_SSH_KEY_PATH": str(self.root / "ssh" / "deploy_key"),
            "SITES_SSH_HOST_KEY_FILE": str(self.root / "ssh" / "ssh_host_ed25519_key.pub"),
            "SITES_HOME_ROOT": str(self.root / "whm" / "home"),
            "CPANEL_WHM_URL": f"http://127.0.0.1:{self.port('whm')}",
            "CPANEL_WHM_API_TOKEN": s["whm_api_token"],
            "CPANEL_WHM_USERNAME": "root",
            "NAMESILO_API_URL": f"http://127.0.0.1:{self.port('namesilo')}/api",
            "NAMESILO_API_KEY": s["namesilo_api_key"],
            "NAMESILO_SANDBOX": True,
            "STRIPE_API_BASE": f"http://127.0.0.1:{self.port('stripe')}",
            "STRIPE_SECRET_KEY": s["stripe_secret_key"],
            "STRIPE_WEBHOOK_SECRET": s["stripe_webhook_secret"],
            "MARKETING_API_KEY": s["marketing_api_key"],
            "APP_URL": self.app_url,
            "MPANEL_ENCRYPTION_KEY": s["encryption_key"],
            "MPANEL_SESSION_KEY": s["session_key"],
            "ACME_ACCOUNT_KEY_PATH": str(self.root / "acme-account.pem"),
        }

    def write_endpoints(self) -> dict:
        values = self.endpoints()
        _write_private_json(self.root / "endpoints.json", values)
        return values


def _write_private_json(path: Path, values: dict) -> None:
    """Atomically, readable by root only: these files hold the local keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh, indent=2)
    tmp.replace(path)


def current() -> Layout:
    """The layout the environment names: MPANEL_STATE_DIR (default: <checkout>/.state) and
    MPANEL_PORT_BASE (default 24000), the same variables app.settings reads."""
    checkout = Path(__file__).resolve().parents[2]
    state = Path(os.environ.get("MPANEL_STATE_DIR") or checkout / ".state").resolve()
    return Layout(state, int(os.environ.get("MPANEL_PORT_BASE") or 24000))
