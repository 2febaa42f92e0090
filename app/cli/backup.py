"""`mpanel backup` and `mpanel restore`: everything that cannot be rebuilt, in one directory.

Three PostgreSQL databases hold it: the app's (DATABASE_URL: orders, customers, runs, the
queue), the Pulumi state (PULUMI_BACKEND_URL's database: every stack's checkpoint, its
secrets encrypted with the passphrase) and the mail core's (MAILCORE_DATABASE_URL: domains,
mailboxes, DKIM keys). Each is dumped with `pg_dump -Fc` (one consistent snapshot per
database) into <dir>/mpanel-<UTC time>/, written under a `.partial` name and renamed when
complete, with a manifest.json; the oldest beyond `--keep` are removed. `mpanel restore DIR`
loads each dump into the database the current configuration names, which must be empty (a
fresh install: created, not yet migrated).

What is not in the dumps (the secrets that unlock them) is printed, never copied.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from app.settings import Settings, state_dir

# file in the backup -> the setting naming its database
DATABASES = {"app.dump": "DATABASE_URL", "pulumi-state.dump": "PULUMI_BACKEND_URL",
             "mailcore.dump": "MAILCORE_DATABASE_URL"}
SYSTEM_DIR = Path("/var/backups/mpanel")
# libpq's own connection parameters; the Pulumi backend URL may carry others of its own.
_LIBPQ_PARAMS = {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name", "options",
                 "host", "port", "user", "password", "dbname", "target_session_attrs"}

SECRETS_NOT_IN_IT = """Not in this backup (keep them apart from it, e.g. in the operators' password manager; without
them the dumps cannot be used):
  PULUMI_CONFIG_PASSPHRASE  decrypts the secrets in every stack's state (pulumi-state.dump)
  MPANEL_ENCRYPTION_KEY     decrypts what mpanel sealed in app.dump (server tokens, TOTP secrets, DKIM keys)
  ACME account key          the file ACME_ACCOUNT_KEY_PATH names ({acme}); certificates are renewed with it
  the configuration file    every other secret (Stripe, WHM, NameSilo, SMTP, the marketing API key)"""


class BackupFailed(RuntimeError):
    pass


def libpq_url(url: str) -> str:
    """A URL pg_dump accepts: postgresql://, only libpq's parameters."""
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k in _LIBPQ_PARAMS])
    return urlunsplit(("postgresql", parts.netloc, parts.path, query, ""))


def _dbname(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _rename_state_keys(url: str, was: str) -> int:
    """Pulumi's postgres backend keys every object under the database's name
    (`<database>/.pulumi/stacks/...`): state restored into a database of another name is moved
    under the new one, or the engine finds no stacks there."""
    import psycopg

    now = _dbname(url)
    if not was or was == now:
        return 0
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        return conn.execute("UPDATE pulumi_state SET key = %s || substr(key, %s) WHERE key LIKE %s",
                            (now + "/", len(was) + 2, was.replace("_", r"\_") + "/%")).rowcount


def pg_tool(name: str) -> str:
    """pg_dump/pg_restore of the newest PostgreSQL installed (a newer client reads older servers)."""
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                      key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    found = str(versions[-1]) if versions else shutil.which(name)
    if not found:
        raise BackupFailed(f"{name} not found: install Debian's postgresql-client")
    return found


def default_dir() -> Path:
    try:
        SYSTEM_DIR.mkdir(parents=True, exist_ok=True)
        probe = SYSTEM_DIR / ".writable"
        probe.touch()
        probe.unlink()
        return SYSTEM_DIR
    except OSError:
        return state_dir() / "backups"


def back_up(settings: Settings, where: Path, keep: int, say=print) -> Path:
    from app import db
    from app.cli.version import describe

    where.mkdir(parents=True, exist_ok=True)
    stamp = "mpanel-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    # Two backups in one second (a cron run beside a manual one) each get their own folder;
    # "-2" sorts after the plain name, so "keep the newest N" still holds.
    name, taken = stamp, 1
    while (where / name).exists() or (where / (name + ".partial")).exists():
        taken += 1
        name = f"{stamp}-{taken}"
    partial = where / (name + ".partial")
    partial.mkdir(mode=0o700)
    manifest = {"made_at": datetime.now(timezone.utc).isoformat(), "release": describe(), "databases": {}}
    for file, setting in DATABASES.items():
        url = getattr(settings, setting)
        if not url:
            say(f"  {setting} is not set: {file} skipped")
            continue
        started = time.monotonic()
        done = subprocess.run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                               f"--file={partial / file}", libpq_url(url)], capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise BackupFailed(f"pg_dump of {setting} failed: {done.stderr.strip().splitlines()[-1:]}")
        size = (partial / file).stat().st_size
        manifest["databases"][file] = {"setting": setting, "bytes": size, "database": _dbname(url)}
        say(f"  {file:18} {size:>12,} bytes  ({setting}, {time.monotonic() - started:.1f}s)")
    if settings.DATABASE_URL:
        manifest["migrations"] = db.steps()
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2))
    final = where / name
    partial.rename(final)
    for old in sorted(p for p in where.glob("mpanel-*") if p.is_dir() and not p.name.endswith(".partial"))[:-keep]:
        shutil.rmtree(old)
        say(f"  removed {old} (keeping {keep})")
    return final


def restore(settings: Settings, source: Path, say=print) -> None:
    import psycopg

    manifest = json.loads((source / "manifest.json").read_text())
    for file, entry in manifest["databases"].items():
        url = getattr(settings, entry["setting"])
        if not url:
            raise BackupFailed(f"{entry['setting']} is not set: where should {file} go?")
        with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10) as conn:
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
                                  "('pg_catalog', 'information_schema')").fetchone()[0]
        if tables:
            raise BackupFailed(f"the database {entry['setting']} names is not empty ({tables} tables): restore "
                               f"into a new, empty database")
    for file, entry in manifest["databases"].items():
        started = time.monotonic()
        done = subprocess.run([pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                               "--single-transaction", f"--dbname={libpq_url(getattr(settings, entry['setting']))}",
                               str(source / file)], capture_output=True, text=True)
        if done.returncode != 0:
            raise BackupFailed(f"pg_restore of {file} failed: {done.stderr.strip()[-500:]}")
        if entry["setting"] == "PULUMI_BACKEND_URL":
            _rename_state_keys(getattr(settings, entry["setting"]), entry.get("database", ""))
        say(f"  {file:18} restored into {entry['setting']} ({time.monotonic() - started:.1f}s)")


def cmd_backup(args) -> int:
    settings = Settings.from_env()
    where = Path(args.dir) if args.dir else default_dir()
    try:
        made = back_up(settings, where, max(1, args.keep))
    except BackupFailed as exc:
        print(f"mpanel backup: {exc}", file=sys.stderr)
        return 1
    print(f"backup written to {made}")
    print(SECRETS_NOT_IN_IT.format(acme=settings.ACME_ACCOUNT_KEY_PATH or "not set"))
    return 0


def cmd_restore(args) -> int:
    settings = Settings.from_env()
    try:
        restore(settings, Path(args.source))
    except BackupFailed as exc:
        print(f"mpanel restore: {exc}", file=sys.stderr)
        return 1
    print("restored; start serve and worker with the same PULUMI_CONFIG_PASSPHRASE and MPANEL_ENCRYPTION_KEY "
          "(and the ACME account key in place), then `mpanel db upgrade` if this release is newer")
    return 0


def add_parser(sub) -> None:
    b = sub.add_parser("backup", help="pg_dump of the app's, the Pulumi state's and the mail core's databases")
    b.add_argument("--dir", default=None, help=f"where backups go (default {SYSTEM_DIR} when writable, else "
                                              f"<state dir>/backups)")
    b.add_argument("--keep", type=int, default=7, help="backups kept in --dir, newest first (default 7)")
    b.set_defaults(fn=cmd_backup)
    r = sub.add_parser("restore", help="load a backup into the (empty) databases the configuration names")
    r.add_argument("source", metavar="DIR", help="a directory `mpanel backup` wrote")
    r.set_defaults(fn=cmd_restore)
