"""Backing up a subscription's cPanel account: WHM's own backup (pkgacct), before anything is lost.

Architecture decision 6: termination suspends at once, backs the account up, and destroys after
a retention period. Two moments call `back_up_account` (app/services/hosting/converge.py):

- when a canceled subscription has been converged (its account now suspended): the copy a
  customer or an operator can be given back while the account is retained;
- right before the stack is destroyed: the last copy, taken after everything that arrived
  during retention. The destroy runs only when this succeeded, so an account is never removed
  without a backup taken moments before.

WHM API 1: `start_background_pkgacct` starts the backup, `get_pkgacct_session_state` is polled
until COMPLETED (or FAILED) within a deadline; the archive (`cpmove-<user>.tar.gz`, with the home
and the mail) stays on the server after the account is removed (`list_cparchive_files` lists
it, `start_local_cpmove_restore` restores it). mpanel never deletes archives: how long they are
kept is the server's backup policy, not a side effect of a cancellation.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from app import db
from app.db.hosting import subscriptions
from app.services.hosting.engine import whm_client
from app.settings import Settings
from providers.core.errors import NotFound, ProviderError
from providers.clients.whm import WhmClient

log = logging.getLogger("mpanel.backups")

BACKUP_DEADLINE_SECONDS = 1800.0  # pkgacct of a large account takes minutes
POLL_EVERY_SECONDS = 1.0


class AccountBackupFailed(RuntimeError):
    """WHM could not back the account up; whatever was waiting for the copy must not go ahead."""


@dataclass(frozen=True)
class AccountBackup:
    username: str
    session_id: str
    archive: str | None  # where the server keeps it, when it says (the stand-in does)


def back_up_account(settings: Settings, subscription_id: int, *, client: WhmClient | None = None,
                    clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
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
            return AccountBackup(username, session_id, archive)
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
