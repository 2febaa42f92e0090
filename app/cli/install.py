"""`mpanel install`: the production layout, from the templates in templates/deploy/.

What it makes (every path under --root, "/" on a real host):

  /etc/mpanel/mpanel.env                 the one configuration file (mode 0600, owner mpanel)
  /var/lib/mpanel/                       the state directory: the engine's home, the ACME
                                         account key, known SSH hosts (owner mpanel, 0750)
  /etc/systemd/system/mpanel-web.service, mpanel-worker.service
  /etc/nginx/sites-available/mpanel.conf (+ the sites-enabled link on a real host)

and the system user `mpanel` (no shell, home /var/lib/mpanel), created once: running the
install again keeps the user, the directories and every value already in the env file, and
only adds variables a newer release introduced. Logs go to journald (the units' stdout).
Paths written into the files include --root, so a layout installed under a temporary
directory (the end-to-end test) is complete and self-contained.
"""
from __future__ import annotations

import os
import pwd
import secrets
import subprocess
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import jinja2

from app.cli.config_check import REQUIRED, read_env_file
from app.settings import CHECKOUT, Settings

USER = "mpanel"
TEMPLATES = CHECKOUT / "templates"

# Not Settings fields, but read by the processes (app/settings.py, stacks/install.py).
PROCESS = ("MPANEL_STATE_DIR", "MPANEL_CACHE_DIR", "MPANEL_APP_PORT", "MPANEL_WORKER_CONCURRENCY",
           "MPANEL_WEB_PROCESSES", "MPANEL_LOG_LEVEL")


@dataclass
class Layout:
    root: Path
    server_name: str
    app_port: int = 2271
    https_port: int = 443
    http_port: int = 80
    python: str = sys.executable
    tls_cert: str = ""
    tls_key: str = ""
    user: str = USER

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    @property
    def etc(self) -> Path:
        return self.path("/etc/mpanel")

    @property
    def env_file(self) -> Path:
        return self.etc / "mpanel.env"

    @property
    def state_dir(self) -> Path:
        return self.path("/var/lib/mpanel")

    @property
    def units(self) -> Path:
        return self.path("/etc/systemd/system")

    @property
    def nginx_site(self) -> Path:
        return self.path("/etc/nginx/sites-available/mpanel.conf")


# --- the env file --------------------------------------------------------------------------------

def _quoted(value: str) -> str:
    if value and all(c.isalnum() or c in "-_.:/@,+=%?&" for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_env_values(path: Path, changes: dict[str, str]) -> None:
    """Set variables in the file in place (a commented-out default becomes the set line),
    keeping its mode and everything else; what an operator does with an editor."""
    lines = path.read_text().splitlines()
    todo = dict(changes)
    for i, line in enumerate(lines):
        name = line.lstrip("# ").split("=", 1)[0].strip()
        if "=" in line and name in todo:
            lines[i] = f"{name}={_quoted(str(todo.pop(name)))}"
    lines += [f"{name}={_quoted(str(value))}" for name, value in todo.items()]
    path.write_text("\n".join(lines) + "\n")


def _generated() -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {"PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(32),
            # Seals stored secrets; the engine and provider processes have it.
            "MPANEL_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            # Signs the panel's session cookies only; never passed to the engine.
            "MPANEL_SESSION_KEY": secrets.token_urlsafe(48),
            "MARKETING_API_KEY": "mk_" + secrets.token_hex(24)}


def env_text(layout: Layout, kept: dict[str, str]) -> str:
    """The whole file: required variables set (kept, generated or empty for the operator to
    fill in), every other setting commented out with its default."""
    wanted = {
        "MPANEL_ENV": "production",
        "MPANEL_STATE_DIR": str(layout.state_dir),
        "MPANEL_CACHE_DIR": str(layout.state_dir / "engine"),
        "MPANEL_APP_PORT": str(layout.app_port),
        "APP_URL": f"https://{layout.server_name}" + ("" if layout.https_port == 443 else f":{layout.https_port}"),
        "MPANEL_TRUSTED_PROXIES": "127.0.0.1,::1",
        "ACME_ACCOUNT_KEY_PATH": str(layout.state_dir / "acme-account.pem"),
        **_generated(),
    }
    out = ["# mpanel's configuration (docs/configuration.md). Written by `mpanel install`, read by the",
           "# systemd units (EnvironmentFile=) and by `mpanel config check`, which says what is missing.",
           "# Values with spaces in double quotes. Keep this file mode 0600: it holds every secret.", ""]
    out.append("# --- the process layout")
    for name in ("MPANEL_ENV", *PROCESS):
        value = kept.get(name, wanted.get(name))
        out.append(f"{name}={_quoted(value)}" if value is not None else f"# {name}=")
    out += ["", "# --- required: endpoints, keys and your company's names"]
    for name in REQUIRED:
        out.append(f"{name}={_quoted(kept.get(name, wanted.get(name, '')))}")
    out += ["", "# --- optional (the default shown)"]
    defaults = Settings()
    for f in fields(Settings):
        if f.metadata.get("derived") or f.name in REQUIRED or f.name in PROCESS or f.name == "MPANEL_ENV":
            continue
        if f.name in kept or f.name in wanted:
            out.append(f"{f.name}={_quoted(kept.get(f.name, wanted.get(f.name)))}")
        else:
            default = getattr(defaults, f.name)
            out.append(f"# {f.name}={_quoted(str(default).lower() if isinstance(default, bool) else str(default))}")
    extra = sorted(set(kept) - {line.lstrip('# ').split('=', 1)[0] for line in out if '=' in line})
    if extra:
        out += ["", "# --- kept from the previous file"] + [f"{n}={_quoted(kept[n])}" for n in extra]
    return "\n".join(out) + "\n"


# --- the system user and the files ---------------------------------------------------------------

def ensure_user(name: str, home: Path, say=print) -> tuple[int, int]:
    """The system user, created once (idempotent: an existing one is kept as it is)."""
    try:
        entry = pwd.getpwnam(name)
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        pass
    subprocess.run(["useradd", "--system", "--user-group", "--home-dir", str(home), "--no-create-home",
                    "--shell", "/usr/sbin/nologin", "--comment", "mpanel provisioning engine", name], check=True)
    say(f"created system user {name}")
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def _render(name: str, **values) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template(f"deploy/{name}").render(**values)


def _write(path: Path, text: str, mode: int, uid: int = 0, gid: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chown(tmp, uid, gid)
    os.chmod(tmp, mode)
    tmp.replace(path)


def install(layout: Layout, say=print) -> dict[str, Path]:
    if os.geteuid() != 0:
        raise SystemExit("mpanel install: run as root (it creates a system user and writes root-owned files)")
    uid, gid = ensure_user(layout.user, Path("/var/lib/mpanel"), say)
    for directory, mode, owner in ((layout.etc, 0o750, (0, gid)), (layout.state_dir, 0o750, (uid, gid)),
                                   (layout.state_dir / "engine", 0o755, (uid, gid))):
        directory.mkdir(parents=True, exist_ok=True)
        os.chown(directory, *owner)
        os.chmod(directory, mode)
    kept = read_env_file(layout.env_file) if layout.env_file.exists() else {}
    _write(layout.env_file, env_text(layout, kept), 0o600, uid, gid)
    values = read_env_file(layout.env_file)
    run_timeout = float(values.get("MPANEL_RUN_TIMEOUT_SECONDS") or Settings.MPANEL_RUN_TIMEOUT_SECONDS)
    tls_cert = layout.tls_cert or f"/etc/letsencrypt/live/{layout.server_name}/fullchain.pem"
    tls_key = layout.tls_key or f"/etc/letsencrypt/live/{layout.server_name}/privkey.pem"
    common = dict(user=layout.user, env_file=layout.env_file, code_dir=CHECKOUT, python=layout.python,
                  app_port=layout.app_port, state_dir=layout.state_dir, nginx_site=layout.nginx_site,
                  run_timeout=int(run_timeout), stop_timeout=int(run_timeout) + 90)
    written = {
        "env": layout.env_file,
        "web unit": layout.units / "mpanel-web.service",
        "worker unit": layout.units / "mpanel-worker.service",
        "nginx site": layout.nginx_site,
    }
    _write(written["web unit"], _render("mpanel-web.service", **common), 0o644)
    _write(written["worker unit"], _render("mpanel-worker.service", **common), 0o644)
    _write(written["nginx site"], _render(
        "nginx-site.conf", app_port=layout.app_port, server_name=layout.server_name, http_port=layout.http_port,
        https_port=layout.https_port, https_suffix="" if layout.https_port == 443 else f":{layout.https_port}",
        tls_cert=tls_cert, tls_key=tls_key, acme_webroot=layout.path("/var/www/html"),
        metrics_allow=["127.0.0.1", "::1"]), 0o644)
    if layout.root == Path("/"):
        enabled = Path("/etc/nginx/sites-enabled/mpanel.conf")
        if enabled.parent.is_dir() and not enabled.exists():
            enabled.symlink_to(layout.nginx_site)
    for what, path in written.items():
        say(f"{what:12} {path}")
    missing = [n for n in REQUIRED if not values.get(n)]
    say(f"\nnext: fill in {layout.env_file} ({len(missing)} required variable(s) empty: {', '.join(missing[:6])}"
        f"{'...' if len(missing) > 6 else ''}), then `mpanel config check`, `mpanel db upgrade` "
        "and `systemctl enable --now mpanel-web mpanel-worker`")
    return written


