"""The local servers: how each is prepared, started in the foreground and probed.

Each server is a small class with the same shape, so the supervisor treats them
alike: `prepare()` (idempotent one-time setup), `argv()`/`env()`/`user` (how to run it
in the foreground), `ready()` (a real protocol probe, not a bare TCP connect),
`after_start()` (work that needs the server up) and `version()`.
"""
from __future__ import annotations

import grp
import imaplib
import json
import os
import pwd
import shutil
import signal
import smtplib
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import requests

from stacks.install import CannotRun

from .layout import DATABASES, Layout
from . import acl, tls

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class ServerCannotStart(CannotRun):
    """A one-line reason, found before starting, why a server cannot run on this machine.

    A CannotRun, so that `mpanel` prints it as the one line it is (app/cli: explain).
    """


class MissingPackage(ServerCannotStart):
    pass


def _can_traverse(st: os.stat_result, uid: int, gids: set[int], acl_says: bool | None = None) -> bool:
    if uid == 0:
        return True
    if st.st_uid != uid and acl_says is not None:
        return acl_says
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in gids:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def user_groups(user: str) -> set[int]:
    """The user's primary and supplementary groups: the only ones its server process keeps."""
    entry = pwd.getpwnam(user)
    return {entry.pw_gid, *(g.gr_gid for g in grp.getgrall() if user in g.gr_mem)}


def first_closed_directory(path: Path, user: str, stat_of=os.stat) -> Path | None:
    """The first directory on the way from / to `path` that `user` may not enter, or None.

    The mode bits and the entries of an ACL naming the user or its groups are read (the
    servers run with exactly the user's own groups: supervisor.py); directories not made yet
    are skipped, as mpanel makes them itself, open to all.
    """
    entry = pwd.getpwnam(user)
    gids = user_groups(user)
    path = Path(os.path.abspath(path))
    for directory in [*reversed(path.parents), path]:
        try:
            st = stat_of(directory)
        except FileNotFoundError:
            return None
        acl_says = acl.user_may_traverse(directory, entry.pw_uid, gids) if stat_of is os.stat else None
        if not _can_traverse(st, entry.pw_uid, gids, acl_says):
            return directory
    return None


def _need(binary: str, package: str) -> str:
    found = shutil.which(binary) or (str(PG_BIN / binary) if (PG_BIN / binary).exists() else None)
    if not found:
        raise MissingPackage(
            f"{binary} is not installed (Debian package {package}); run `mpanel setup` to install it"
        )
    return found


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


class Server:
    name = ""
    user: str | None = None
    port_names: tuple[str, ...] = ()
    stop_signal = signal.SIGTERM  # what the supervisor's stop sends it

    def __init__(self, layout: Layout):
        self.layout = layout

    @property
    def home(self) -> Path:
        return self.layout.dir(self.name)

    @property
    def log_path(self) -> Path:
        return self.home / f"{self.name}.log"

    def ports(self) -> dict[str, int]:
        return {n: self.layout.port(n) for n in self.port_names}

    def reached_by(self) -> list[tuple[str, Path]]:
        """(user, directory) pairs: the directories this server's processes must be able to enter."""
        return [(self.user, self.home)] if self.user else []

    def prepare(self) -> None:
        pass

    def env(self) -> dict:
        return dict(os.environ)

    def argv(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def after_start(self) -> None:
        pass

    def version(self) -> str:
        return ""


class Postgres(Server):
    name = "postgres"
    user = "postgres"
    port_names = ("postgres",)
    # A fast shutdown: sessions still open are ended. SIGTERM's smart shutdown waits for every
    # client to leave, and a test process's pools outlive the servers' stop: the supervisor
    # then waited its 10 s and SIGKILLed the postmaster.
    stop_signal = signal.SIGINT

    @property
    def data(self) -> Path:
        return self.home / "data"

    def prepare(self) -> None:
        initdb = _need("initdb", "postgresql")
        if not (self.data / "PG_VERSION").exists():
            _chown_tree(self.home, "postgres")
            subprocess.run(
                ["runuser", "-u", "postgres", "--", initdb, "-D", str(self.data), "-U", "postgres",
                 "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                check=True, capture_output=True,
            )
        _chown_tree(self.home, "postgres")

    def argv(self) -> list[str]:
        return [_need("postgres", "postgresql"), "-D", str(self.data), "-k", str(self.home),
                "-c", "listen_addresses=127.0.0.1", "-p", str(self.layout.port("postgres")),
                # Durability is the job of a production cluster; this one is for development.
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=200"]

    def _connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(self.layout.database_url(database), autocommit=True, connect_timeout=2)

    def ready(self) -> bool:
        try:
            with self._connect() as conn:
                conn.execute("select 1")
            return True
        except Exception:
            return False

    def after_start(self) -> None:
        with self._connect() as conn:
            existing = {r[0] for r in conn.execute("select datname from pg_database")}
            for db in DATABASES:
                if db not in existing:
                    conn.execute(f'create database "{db}"')
        with self._connect("mailcore") as conn:
            conn.execute((Path(__file__).with_name("mailcore.sql")).read_text())

    def version(self) -> str:
        with self._connect() as conn:
            return conn.execute("show server_version").fetchone()[0]


class PowerDNS(Server):
    name = "powerdns"
    port_names = ("dns", "powerdns_api")

    def prepare(self) -> None:
        _need("pdns_server", "pdns-server")
        schema = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")
        if not schema.exists():
            raise MissingPackage("PowerDNS SQLite schema missing (Debian package pdns-backend-sqlite3)")
        db = self.home / "pdns.sqlite3"
        if not db.exists():
            with sqlite3.connect(db) as conn:
                conn.executescript(schema.read_text())
        key = self.layout.secrets()["powerdns_api_key"]
        # Caches off: tests and the worker read what they just wrote.
        (self.home / "pdns.conf").write_text("\n".join([
            "launch=gsqlite3", f"gsqlite3-database={db}",
            f"local-address=127.0.0.1:{self.layout.port('dns')}",
            "daemon=no", "guardian=no", "disable-syslog=yes", f"socket-dir={self.home}",
            "security-poll-suffix=", "api=yes", f"api-key={key}", "webserver=yes",
            "webserver-address=127.0.0.1", f"webserver-port={self.layout.port('powerdns_api')}",
            "webserver-allow-from=127.0.0.0/8", "cache-ttl=0", "negquery-cache-ttl=0",
            "query-cache-ttl=0", "zone-cache-refresh-interval=0", "loglevel=4",
            "default-soa-content=ns1.migrahosting.com. hostmaster.@ 0 10800 3600 604800 3600",
            "",
        ]))

    def argv(self) -> list[str]:
        return [_need("pdns_server", "pdns-server"), f"--config-dir={self.home}"]

    def _get(self, path: str = ""):
        key = self.layout.secrets()["powerdns_api_key"]
        return requests.get(
            f"http://127.0.0.1:{self.layout.port('powerdns_api')}/api/v1/servers/localhost{path}",
            headers={"X-API-Key": key, "Accept": "application/json"}, timeout=2,
        )

    def ready(self) -> bool:
        try:
            return self._get().status_code == 200
        except requests.RequestException:
            return False

    def version(self) -> str:
        return self._get().json().get("version", "")


class Pebble(Server):
    name = "pebble"
    port_names = ("acme", "acme_mgmt")

    def prepare(self) -> None:
        _need("pebble", "pebble")
        tls.ensure_local_ca(self.home)
        config = {"pebble": {
            "listenAddress": f"127.0.0.1:{self.layout.port('acme')}",
            "managementListenAddress": f"127.0.0.1:{self.layout.port('acme_mgmt')}",
            "certificate": str(self.home / "server.pem"),
            "privateKey": str(self.home / "server-key.pem"),
            "httpPort": 5002, "tlsPort": 5001, "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }}
        (self.home / "pebble.json").write_text(json.dumps(config, indent=2))

    def env(self) -> dict:
        # No random validation sleep, no random nonce rejection; validation itself stays real.
        return {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}

    def argv(self) -> list[str]:
        return [_need("pebble", "pebble"), "-config", str(self.home / "pebble.json"),
                "-dnsserver", f"127.0.0.1:{self.layout.port('dns')}"]

    def ready(self) -> bool:
        try:
            r = requests.get(f"https://localhost:{self.layout.port('acme')}/dir",
                             verify=str(self.layout.ca_file), timeout=2)
            return r.status_code == 200 and "newOrder" in r.json()
        except (requests.RequestException, ValueError):
            return False

    def version(self) -> str:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "pebble"], capture_output=True, text=True)
        return out.stdout.strip()


class Dovecot(Server):
    name = "dovecot"
    port_names = ("imap",)

    def reached_by(self) -> list[tuple[str, Path]]:
        # Mail is read and written as the mail user (first_valid_uid below).
        return [("mail", self.layout.root / "mailcore")]

    def prepare(self) -> None:
        _need("dovecot", "dovecot-imapd")
        mail_root = self.layout.dir("mailcore")
        _chown_tree(mail_root, "mail")
        mail = pwd.getpwnam("mail")
        sql = self.home / "sql.conf.ext"
        sql.write_text("\n".join([
            "driver = pgsql",
            # TCP, not the socket: the auth worker runs as the dovecot user.
            f"connect = host=127.0.0.1 port={self.layout.port('postgres')} dbname=mailcore user=postgres",
            "default_pass_scheme = ARGON2ID",
            "password_query = SELECT address AS user, password_hash AS password FROM mailboxes "
            "WHERE address = '%u' AND active",
            f"user_query = SELECT '{mail_root}/' || domain || '/' || local_part AS home, "
            f"{mail.pw_uid} AS uid, {mail.pw_gid} AS gid, "
            "'*:bytes=' || (quota_mb::bigint * 1048576) AS quota_rule "
            "FROM mailboxes WHERE address = '%u' AND active",
            "iterate_query = SELECT address AS user FROM mailboxes WHERE active",
            "",
        ]))
        os.chmod(sql, 0o640)
        run = self.home / "run"
        run.mkdir(exist_ok=True)
        (self.home / "dovecot.conf").write_text("\n".join([
            f"base_dir = {run}", f"state_dir = {self.home / 'state'}",
            "instance_name = mpanel-dovecot", "protocols = imap", "listen = 127.0.0.1",
            "ssl = no", "disable_plaintext_auth = no", "auth_mechanisms = plain login",
            "auth_failure_delay = 0", f"log_path = {self.log_path}",
            # No auth penalty for loopback: one failed login would slow the next good one by ~4 s.
            "login_trusted_networks = 127.0.0.0/8",
            "mail_location = maildir:~/Maildir",
            f"first_valid_uid = {mail.pw_uid}", f"last_valid_uid = {mail.pw_uid}",
            f"first_valid_gid = {mail.pw_gid}", f"last_valid_gid = {mail.pw_gid}",
            "service imap-login {", "  inet_listener imap {", f"    port = {self.layout.port('imap')}",
            "  }", "  inet_listener imaps {", "    port = 0", "  }", "}",
            "passdb {", "  driver = sql", f"  args = {sql}", "}",
            "userdb {", "  driver = sql", f"  args = {sql}", "}",
            "",
        ]))
        (self.home / "state").mkdir(exist_ok=True)

    def argv(self) -> list[str]:
        return [_need("dovecot", "dovecot-imapd"), "-F", "-c", str(self.home / "dovecot.conf")]

    def ready(self) -> bool:
        try:
            imap = imaplib.IMAP4("127.0.0.1", self.layout.port("imap"), timeout=2)
            imap.logout()
            return True
        except (OSError, imaplib.IMAP4.error):
            return False

    def version(self) -> str:
        return subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.split()[0]


class Sshd(Server):
    """OpenSSH on loopback: the web server's shell, where sites are published.

    The WHM stand-in keeps account homes under <state>/whm/home, as a cPanel
    server keeps them under /home; deploys log in with a key generated here.
    """

    name = "ssh"
    port_names = ("ssh",)

    @property
    def deploy_key(self) -> Path:
        return self.home / "deploy_key"

    def prepare(self) -> None:
        _need("sshd", "openssh-server")
        keygen = _need("ssh-keygen", "openssh-client")
        host_key = self.home / "ssh_host_ed25519_key"
        for key in (host_key, self.deploy_key):
            if not key.exists():
                subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", f"mpanel-{key.name}", "-f", str(key)],
                               check=True)
        (self.home / "authorized_keys").write_text(self.deploy_key.with_suffix(".pub").read_text())
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        (self.home / "sshd_config").write_text("\n".join([
            f"Port {self.layout.port('ssh')}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
            f"PidFile {self.home / 'sshd.pid'}", f"AuthorizedKeysFile {self.home / 'authorized_keys'}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "UsePAM no", "StrictModes no", "Subsystem sftp internal-sftp", "LogLevel INFO", "",
        ]))

    def argv(self) -> list[str]:
        return [_need("sshd", "openssh-server"), "-D", "-e", "-f", str(self.home / "sshd_config")]

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.layout.port("ssh")), timeout=2) as conn:
                return conn.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False

    def version(self) -> str:
        out = subprocess.run(["ssh", "-V"], capture_output=True, text=True)
        return (out.stderr or out.stdout).split(",")[0].strip()


class PythonServer(Server):
    """A server of ours written in Python, run with this interpreter."""

    module = ""

    def args(self) -> list[str]:
        return []

    def argv(self) -> list[str]:
        return [sys.executable, "-u", "-m", self.module, *self.args()]

    def env(self) -> dict:
        root = str(Path(__file__).resolve().parents[2])
        return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


class SmtpServer(PythonServer):
    """An aiosmtpd server of ours: ready when it answers NOOP on its (first) port."""

    def ready(self) -> bool:
        try:
            with smtplib.SMTP("127.0.0.1", self.layout.port(self.port_names[0]), timeout=2) as smtp:
                return smtp.noop()[0] == 250
        except (OSError, smtplib.SMTPException):
            return False

    def version(self) -> str:
        import aiosmtpd

        return f"aiosmtpd {aiosmtpd.__version__}"


class SmtpSink(SmtpServer):
    name = "smtp"
    port_names = ("smtp",)
    module = "tools.services.smtp_sink"

    def args(self) -> list[str]:
        return ["--port", str(self.layout.port("smtp")), "--maildir", str(self.home / "maildir")]


class MailCoreSmtp(SmtpServer):
    """The mail core's SMTP front: local delivery for routable mail domains, relay for the rest."""
    name = "mailcore-smtp"
    port_names = ("mailcore_smtp",)
    module = "tools.services.mail_core"

    def args(self) -> list[str]:
        return ["--port", str(self.layout.port("mailcore_smtp")), "--database", self.layout.database_url("mailcore"),
                "--dovecot-config", str(self.layout.root / "dovecot" / "dovecot.conf"),
                "--relay", f"127.0.0.1:{self.layout.port('smtp')}"]


class HttpSandbox(PythonServer):
    """A stand-in for a paid API (sandbox/): ready when it answers HTTP at all."""

    port_name = ""
    secret_key = ""

    @property
    def port_names(self):  # type: ignore[override]
        return (self.port_name,)

    def args(self) -> list[str]:
        return ["--host", "127.0.0.1", "--port", str(self.layout.port(self.port_name)), "--state-dir", str(self.home)]

    def env(self) -> dict:
        # Keys travel in the environment, not on the command line any local user can read in `ps`.
        return {**super().env(), "MPANEL_SANDBOX_SECRET": self.layout.secrets()[self.secret_key]}

    def ready(self) -> bool:
        try:
            requests.get(f"http://127.0.0.1:{self.layout.port(self.port_name)}/_sandbox/faults", timeout=2)
            return True
        except requests.RequestException:
            return False

    def version(self) -> str:
        return "mpanel sandbox"


class WhmSandbox(HttpSandbox):
    name = "whm"
    module = "sandbox.whm"
    port_name = "whm"
    secret_key = "whm_api_token"

    def args(self) -> list[str]:
        # Account backups (pkgacct) archive the account's mail too, which mail-core keeps here.
        return [*super().args(), "--mail-root", str(self.layout.root / "mailcore")]


class NameSiloSandbox(HttpSandbox):
    name = "namesilo"
    module = "sandbox.namesilo"
    port_name = "namesilo"
    secret_key = "namesilo_api_key"


class StripeSandbox(HttpSandbox):
    """Signed webhooks go to the application at APP_URL, as Stripe's dashboard endpoint would."""

    name = "stripe"
    module = "sandbox.stripe"
    port_name = "stripe"
    secret_key = "stripe_secret_key"

    def args(self) -> list[str]:
        return [*super().args(), "--webhook-url", f"{self.layout.app_url}/api/webhooks/stripe"]

    def env(self) -> dict:
        return {**super().env(), "MPANEL_SANDBOX_WEBHOOK_SECRET": self.layout.secrets()["stripe_webhook_secret"]}


def all_servers(layout: Layout) -> list[Server]:
    """In start order: PowerDNS before pebble (pebble resolves through it)."""
    servers: list[Server] = [Postgres(layout), PowerDNS(layout), Pebble(layout), Dovecot(layout), SmtpSink(layout),
                             MailCoreSmtp(layout), Sshd(layout)]
    for sandbox in (WhmSandbox, NameSiloSandbox, StripeSandbox):
        if Path(__file__).resolve().parents[2].joinpath(*sandbox.module.split("."), "__main__.py").exists():
            servers.append(sandbox(layout))
    return servers
