"""Backing up a subscription's hosting: WHM's own backup of the web account (pkgacct) and the
mail from the mail core, kept together by mpanel before anything is lost.

Architecture decision 6: termination suspends at once, backs the account up, and destroys after
a retention period. `back_up_account` is called (app/services/hosting/converge.py, moves.py):

- when a canceled subscription has been converged (its account now suspended): the copy a
  customer or an operator can be given back while the account is retained;
- right before the stack is destroyed: the last copy, taken after everything that arrived
  during retention. The destroy runs only when this succeeded, so an account is never removed
  without a backup taken moments before;
- before a move copies the account to another server (the source's archive, kept).

A backup is two halves, because they live on two servers: WHM's `start_background_pkgacct`
(polled with `get_pkgacct_session_state` until COMPLETED or FAILED within a deadline) archives
what the web server holds (home, databases, the account's files and config), and the mail core's
maildirs (each mailbox's, with its quota and password hash) are archived through the mail-core
client. Both are kept in mpanel's backup directory (MPANEL_BACKUP_DIR, by default
<state dir>/backups), one directory per backup that is never overwritten, named by the
subscription and the moment (the cPanel user name is reused after a termination):

    <backup dir>/sub-<id>/<YYYYmmddTHHMMSS.ffffffZ>/
        cpmove-<user>.tar.gz   WHM's archive, fetched over SSH from the server that made it
        mail.tar.gz            <local part>/Maildir/... of every mailbox of the domain
        manifest.json          subscription, domain, cPanel user, server, why, when, the mailboxes
                               (address, quota_mb, password_hash, active), each file's size and sha256

The directory is written under a temporary name and renamed when complete. `mpanel backups list
SUBSCRIPTION` lists them, `mpanel backups restore SUBSCRIPTION ARCHIVE` restores one, and the
first converge of an order a returning customer placed for a domain whose earlier order was
terminated restores that order's last backup (`restore_taken_back`). A restore goes into the
subscription's account as it is now: the home's files unpacked over SSH (databases are left to
WHM's own restore of the cpmove archive, as this server has none to compare), and the messages
into the mailboxes that exist now (their current password and quota are kept: the customer was
just given them; an archived mailbox that no longer exists is named, and stays in the archive).
mpanel never deletes these backups: how long they are kept is the operator's policy.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from app import db
from app.db.hosting import servers as server_rows
from app.db.hosting import subscriptions
from app.services.hosting.engine import provider_config, whm_client
from app.services.hosting.server_shell import Shell, fetch, unpack_into
from app.settings import Settings, state_dir
from stacks.spec import stack_name
from providers.clients.mailcore import MailCoreClient
from providers.core.errors import NotFound, ProviderError
from providers.clients.whm import WhmClient

log = logging.getLogger("mpanel.backups")

BACKUP_DEADLINE_SECONDS = 1800.0  # pkgacct of a large account takes minutes
POLL_EVERY_SECONDS = 1.0


class AccountBackupFailed(RuntimeError):
    """WHM could not back the account up; whatever was waiting for the copy must not go ahead."""


class BackupRefused(RuntimeError):
    """A listing or restore that cannot be done; the message says why."""


@dataclass(frozen=True)
class AccountBackup:
    username: str
    session_id: str
    archive: str | None  # where the server keeps it, when it says (the stand-in does)
    kept: Path | None = None  # mpanel's backup directory holding it with the mail


def back_up_account(settings: Settings, subscription_id: int, *, client: WhmClient | None = None,
                    reason: str = "retention", keep: bool = True, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                    deadline: float = BACKUP_DEADLINE_SECONDS) -> AccountBackup | None:
    """Back the subscription's cPanel account up and wait for the archive. None when there is no
    account to back up (never created, or already removed); AccountBackupFailed otherwise."""
    with db.transaction(settings.DATABASE_URL) as conn:
        row = subscriptions.hosting_account(conn, subscription_id)
    if row is None:
        return None
    whm = client or whm_client(settings, row["server_id"])  # the WHM of the server holding the account
    try:
        username = row["cpanel_username"] or _account_of_domain(whm, row["domain"])
        if username is None:
            return None
        started = whm.call("start_background_pkgacct", {"user": username, "compressionsetting": "compress"},
                           post=True)
    except NotFound:
        return None  # no such account upstream: nothing left to lose
    except ProviderError as exc:
        raise AccountBackupFailed(f"the account of subscription {subscription_id} could not be backed up: "
                                  f"{exc.message}") from exc
    session_id = str(started.get("session_id") or "")
    if not session_id:
        raise AccountBackupFailed(f"WHM started no backup session for {username}")
    give_up = clock() + deadline
    while True:
        try:
            state = str(whm.call("get_pkgacct_session_state", {"session_id": session_id}).get("state", ""))
        except ProviderError as exc:
            raise AccountBackupFailed(f"the backup of {username} could not be followed: {exc.message}") from exc
        if state == "COMPLETED":
            archive = f"{started['path']}/{started['file']}" if started.get("path") and started.get("file") else None
            log.info("subscription %s: account %s backed up (%s)", subscription_id, username, archive or session_id)
            kept = _keep(settings, row, username, archive, reason) if keep and archive else None
            return AccountBackup(username, session_id, archive, kept)
        if state == "FAILED":
            raise AccountBackupFailed(f"WHM's backup of {username} failed (pkgacct session {session_id})")
        if clock() > give_up:
            raise AccountBackupFailed(f"WHM's backup of {username} did not finish within {deadline:.0f} s")
        sleep(POLL_EVERY_SECONDS)


def _account_of_domain(whm: WhmClient, domain: str | None) -> str | None:
    """No username recorded (a first run that crashed after createacct): the account WHM has for
    the domain. Backing up is harmless, so no ownership check is needed to take a copy."""
    if not domain:
        return None
    found = whm.find_account(domain=domain)
    return found["user"] if found else None


# --- mpanel's own copies ---------------------------------------------------------------------

def backup_root(settings: Settings) -> Path:
    return Path(settings.MPANEL_BACKUP_DIR or state_dir() / "backups")


def backup_home(settings: Settings, subscription_id: int) -> Path:
    """A subscription's backups, in a folder named like its stack (the name no later order reuses)."""
    return backup_root(settings) / stack_name(subscription_id)


def _keep(settings: Settings, row: dict, username: str, archive: str, reason: str) -> Path:
    """WHM's archive fetched from its server and the domain's mail from the mail core, in a new
    backup directory (complete or absent: written under a temporary name, then renamed)."""
    with db.transaction(settings.DATABASE_URL) as conn:
        server = server_rows.by_id(conn, row["server_id"]) if row["server_id"] else None
    if server is None:
        raise AccountBackupFailed(f"subscription {row['id']} is on no known server: its archive cannot be fetched")
    home = backup_home(settings, row["id"])
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(backup_root(settings), 0o700)  # the archives hold password hashes
    partial = Path(tempfile.mkdtemp(dir=home, prefix=".partial-"))
    try:
        web = partial / f"cpmove-{username}.tar.gz"
        fetch(settings, Shell.of(settings, server), archive, web)
        mail = partial / "mail.tar.gz"
        mailboxes = MailCoreClient(provider_config(settings)).archive_domain_mail(row["domain"], mail) \
            if row["domain"] else []
        taken = datetime.now(timezone.utc)
        manifest = {"subscription_id": row["id"], "domain": row["domain"], "cpanel_user": username,
                    "server": server["hostname"], "reason": reason, "taken_at": taken.isoformat(),
                    "web_archive": web.name, "mail_archive": mail.name if mail.exists() else None,
                    "mailboxes": mailboxes,
                    "files": {p.name: {"size": p.stat().st_size, "sha256": _sha256(p)} for p in (web, mail)
                              if p.exists()}}
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        stamp = taken.strftime("%Y%m%dT%H%M%S.%fZ")
        for attempt in range(100):  # a name is never reused: the same microsecond twice gets a suffix
            final = home / (stamp + (f"-{attempt}" if attempt else ""))
            if not final.exists():
                os.rename(partial, final)
                log.info("subscription %s: backup kept in %s", row["id"], final)
                return final
        raise AccountBackupFailed(f"no free backup name in {home}")
    except (OSError, ProviderError, RuntimeError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, AccountBackupFailed):
            raise
        raise AccountBackupFailed(f"the backup of subscription {row['id']} could not be kept: "
                                  f"{getattr(exc, 'message', None) or exc}") from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_backups(settings: Settings, subscription_id: int) -> list[dict]:
    """The subscription's backups, oldest first: each manifest with its `archive` name and `path`."""
    home = backup_home(settings, subscription_id)
    found = []
    for path in sorted(home.iterdir()) if home.is_dir() else []:
        if path.name.startswith(".") or not (path / "manifest.json").is_file():
            continue
        found.append({"archive": path.name, "path": str(path), **json.loads((path / "manifest.json").read_text())})
    return found


def restore_backup(settings: Settings, subscription_id: int, archive: str, *, from_subscription: int | None = None,
                   username: str | None = None) -> dict:
    """Restore a backup (of this subscription, or of `from_subscription`: the same customer's
    earlier order for the same domain) into the subscription's account as it is now: the one
    recorded, or `username`, the one the first run just made and has not recorded yet."""
    with db.transaction(settings.DATABASE_URL) as conn:
        row = subscriptions.hosting_account(conn, subscription_id)
        server = server_rows.by_id(conn, row["server_id"]) if row and row["server_id"] else None
    if row is not None:
        row = {**row, "cpanel_username": row["cpanel_username"] or username}
    if row is None or not row["cpanel_username"] or server is None or row["status"] == "terminated":
        raise BackupRefused(f"subscription {subscription_id} has no hosting account to restore into")
    source = from_subscription or subscription_id
    [backup] = [b for b in list_backups(settings, source) if b["archive"] == archive] or [None]
    if backup is None:
        raise BackupRefused(f"subscription {source} has no backup {archive} (mpanel backups list {source})")
    if backup["domain"] != row["domain"]:
        raise BackupRefused(f"the backup {archive} is of {backup['domain']}, not {row['domain']}")
    kept = Path(backup["path"])
    shell = Shell.of(settings, server)
    home = f"{shell.home_root}/{row['cpanel_username']}"
    unpack_into(settings, shell, kept / backup["web_archive"], f"cpmove-{backup['cpanel_user']}/homedir", 2, home)
    restored, skipped = ([], [])
    if backup.get("mail_archive"):
        restored, skipped = MailCoreClient(provider_config(settings)).restore_domain_mail(
            row["domain"], kept / backup["mail_archive"])
    log.info("subscription %s: backup %s of subscription %s restored (mailboxes %s; not restored %s)",
             subscription_id, archive, source, restored, skipped)
    return {"archive": archive, "from_subscription": source, "home": home, "mailboxes": restored,
            "mailboxes_not_restored": skipped}


def restore_taken_back(settings: Settings, subscription_id: int, *, username: str | None = None) -> dict | None:
    """The first converge of an order placed by a returning customer for a domain whose earlier
    order of theirs was terminated: that order's last backup goes into the new account
    (`username`, made by that converge). Run again by a retried first converge: the files are
    unpacked again and a message already in a mailbox is kept, so nothing is doubled."""
    with db.transaction(settings.DATABASE_URL) as conn:
        earlier = subscriptions.terminated_order_before(conn, subscription_id)
    for previous in earlier:
        backups = list_backups(settings, previous)
        if backups:
            return restore_backup(settings, subscription_id, backups[-1]["archive"], from_subscription=previous,
                                  username=username)
    return None
