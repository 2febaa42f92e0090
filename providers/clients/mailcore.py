"""The mail-core server as mpanel speaks it: `MailCoreClient`.

Dovecot authenticates against the `mailboxes` table of the mail-core database and keeps each
mailbox's mail in <mail root>/<domain>/<local part> (tools/services/servers.py), so the client
is named queries over that database (each call one retried transaction) plus the maildirs on
the mail host (providers/clients/maildirs.py: this machine, or the mail host over SSH). Also here: what mail-core accepts as an address and a password, how it stores a
password (an `{ARGON2ID}` hash) and a DKIM key (encrypted at rest with MPANEL_ENCRYPTION_KEY).
Used by the mail domain and mailbox providers (providers/resources/mail_domain.py,
mailbox.py), by the panel's mailbox service and by `mpanel doctor`.
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import tarfile
from pathlib import Path
from typing import Any, Callable, TypeVar

import psycopg

from providers.core import sql
from providers.core.config import ProviderConfig
from providers.core.errors import NotOurs, ProviderError
from providers.clients.maildirs import GONE, LocalMaildirs, maildirs_for
from providers.core.retry import DEFAULT_RETRY, RetryPolicy
from providers.rules.names import domain_problem

PROVIDER = "mailbox"
log = logging.getLogger("mpanel.mailcore")
T = TypeVar("T")

PASSWORD_LENGTH = (8, 256)

# Dot-atom: [a-z0-9._-], but no leading, trailing or doubled dot (which also keeps
# "." and ".." out of the maildir path).
_LOCAL_PART = re.compile(r"^(?!\.)(?!.*\.\.)[a-z0-9._-]{1,64}(?<!\.)$")


# --- names -------------------------------------------------------------------------------

def address_problem(address: Any) -> str | None:
    """Why mail-core would not take this mailbox address, or None."""
    if not isinstance(address, str) or address.count("@") != 1:
        return "address must look like local@domain"
    local, domain = address.split("@")
    if not _LOCAL_PART.match(local):
        return (f"the local part {local!r} must be 1-64 of a-z, 0-9, '.', '_' or '-', "
                "not starting or ending with a dot and without '..'")
    problem = domain_problem(domain)
    return f"the domain of the address is invalid: {problem}" if problem else None


# --- the mail-core database -----------------------------------------------------------------

def connect_error(exc: psycopg.Error) -> ProviderError:
    return sql.connect_error(PROVIDER, exc, MAILCORE)


def statement_error(exc: psycopg.Error, action: str) -> ProviderError:
    return sql.statement_error(PROVIDER, exc, action)


MAILCORE = "the mail-core database"
# The owner column arrived after the first mail-core databases were made: a database the
# setup has not upgraded yet (tools/services/mailcore.sql) is upgraded on first use, once
# per process, so that no mail domain is ever written without its mark.
_OWNER_COLUMN = "ALTER TABLE mail_domains ADD COLUMN IF NOT EXISTS owner text"
_OWNER_COLUMN_PRESENT = ("SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                         "AND table_name = 'mail_domains' AND column_name = 'owner'")
# Likewise the routable mark (proof of control before mail is delivered locally).
_ROUTABLE_COLUMN = "ALTER TABLE mail_domains ADD COLUMN IF NOT EXISTS routable boolean NOT NULL DEFAULT true"
_ROUTABLE_COLUMN_PRESENT = _OWNER_COLUMN_PRESENT.replace("'owner'", "'routable'")
# The mail core's SMTP front takes as local only a routable domain (tools/services/mail_core.py):
# one that is not is foreign to it, its mail relayed out to whoever really owns it.


class MailCoreClient:
    """The mail-core server: named queries over its database (each call one retried
    transaction), and the maildirs Dovecot keeps under its mail root."""

    def __init__(self, config: ProviderConfig, retry: RetryPolicy = DEFAULT_RETRY, timeout: float = 10.0):
        if not config.MAILCORE_DATABASE_URL:
            raise ProviderError(PROVIDER, "MAILCORE_DATABASE_URL is not set", code="not-configured")
        self._dsn = config.MAILCORE_DATABASE_URL
        self._mail_root = config.MAILCORE_MAIL_ROOT
        self._maildirs = maildirs_for(config.MAILCORE_MAIL_ACCESS, config.MAILCORE_SSH_KEY_PATH,
                                      config.SSH_KNOWN_HOSTS)
        self._db = sql.Database(PROVIDER, self._dsn, retry, timeout, MAILCORE)

    # maildirs
    def maildir(self, *parts: str) -> Path:
        """<mail root>/<domain>[/<local part>], refused if it would leave the mail root (a path on
        the mail host: resolved here only when this machine is the mail host)."""
        if not self._mail_root:
            raise ProviderError(PROVIDER, "MAILCORE_MAIL_ROOT is not set", code="not-configured")
        if isinstance(self._maildirs, LocalMaildirs):
            root = Path(self._mail_root).resolve()
            path = root.joinpath(*parts).resolve()
        else:
            root = Path(os.path.normpath(self._mail_root))
            path = Path(os.path.normpath(root.joinpath(*parts)))
        if path == root or root not in path.parents:
            raise ProviderError(PROVIDER, f"refusing to touch {path}: it is not inside the mail root {root}")
        return path

    def remove_maildir(self, *parts: str) -> str:
        """Remove the mail on the mail host (MAILCORE_MAIL_ACCESS); "removed", or "gone" when
        there was none (said in the log: a retried deletion, or mail removed by hand)."""
        path = self.maildir(*parts)
        outcome = self._maildirs.remove(path)
        if outcome == GONE:
            log.warning("maildir %s on %s was already gone: nothing to remove", path, self._maildirs.where)
        return outcome

    # a domain's mail, archived and restored (the one place that reads maildirs for backups:
    # through the mail root today; doveadm backup/import could take its place)
    def archive_domain_mail(self, domain: str, target: Path) -> list[dict]:
        """Every mailbox of `domain` into the gzip tar `target` (`<local part>/...`: its maildir as
        Dovecot keeps it); returns each mailbox's record (address, quota_mb, password_hash, active)."""
        mailboxes = self._transaction(f"reading the mailboxes of {domain}", lambda conn: conn.execute(
            "SELECT address, local_part, quota_mb, password_hash, active FROM mailboxes WHERE domain = %s "
            "ORDER BY address", (domain,)).fetchall())
        with tarfile.open(target, "w:gz") as tar:
            for box in mailboxes:
                path = self.maildir(domain, box["local_part"])
                if path.is_dir():
                    tar.add(path, arcname=box["local_part"])  # links archived as links, never followed
        return [dict(box) for box in mailboxes]

    def restore_domain_mail(self, domain: str, archive: Path) -> tuple[list[str], list[str]]:
        """The archived maildirs back into the mailboxes of `domain` that exist now, beside what
        they hold (a message already there is kept); owned as the mail root is. Returns the
        addresses restored and those skipped (no such mailbox now: its record stays in the archive)."""
        present = {row["local_part"] for row in self._transaction(
            f"reading the mailboxes of {domain}", lambda conn: conn.execute(
                "SELECT local_part FROM mailboxes WHERE domain = %s", (domain,)).fetchall())}
        owner = Path(self._mail_root).stat()
        restored, skipped = set(), set()
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                local = member.name.split("/", 1)[0]
                if local not in present:
                    skipped.add(f"{local}@{domain}")
                    continue
                target = self.maildir(domain, local)
                if (target.parent / member.name).exists() and not member.isdir():
                    continue
                try:
                    tar.extract(member, target.parent, filter="tar")  # refuses "..", absolute names, links out
                except tarfile.FilterError as exc:
                    raise ProviderError(PROVIDER, f"the mail archive {archive} was refused: {exc}") from None
                try:
                    os.lchown(target.parent / member.name, owner.st_uid, owner.st_gid)
                except PermissionError:
                    pass  # not root: the files stay ours
                restored.add(f"{local}@{domain}")
        return sorted(restored), sorted(skipped - restored)

    def _transaction(self, action: str, work: Callable[[psycopg.Connection], T]) -> T:
        self._db.ensure("mail_domains.owner", _OWNER_COLUMN_PRESENT, _OWNER_COLUMN)
        self._db.ensure("mail_domains.routable", _ROUTABLE_COLUMN_PRESENT, _ROUTABLE_COLUMN)
        return self._db.transaction(action, work)

    # mail domains
    def get_domain(self, name: str) -> dict | None:
        return self._transaction(f"reading mail domain {name}", lambda conn: conn.execute(
            "SELECT name, dkim_selector, dkim_private_key, owner, routable FROM mail_domains WHERE name = %s",
            (name,)).fetchone())

    def list_domains(self) -> list[dict]:
        """Every mail domain ({name, owner}) and how many mailboxes it holds."""
        return self._transaction("listing mail domains", lambda conn: conn.execute(
            "SELECT d.name, d.owner, (SELECT count(*) FROM mailboxes m WHERE m.domain = d.name) AS mailboxes "
            "FROM mail_domains d ORDER BY d.name").fetchall())

    def insert_domain(self, name: str, selector: str, encrypted_key: str | None, owner: str,
                      routable: bool = True) -> bool:
        """A new row marked with its owner; False (nothing written) when the name is taken."""
        return self._transaction(f"writing mail domain {name}", lambda conn: conn.execute(
            "INSERT INTO mail_domains (name, dkim_selector, dkim_private_key, owner, routable) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING RETURNING name",
            (name, selector, encrypted_key, owner, routable)).fetchone() is not None)

    def update_domain(self, name: str, selector: str, encrypted_key: str | None, owner: str,
                      routable: bool = True, *, unmarked_too: bool = False) -> dict | None:
        """Write our row; None when there is none. A row marked for another owner is never
        written (NotOurs); `unmarked_too`: a row without a mark (made before marks existed by
        the stack that has it in its state) gets ours."""
        def work(conn: psycopg.Connection) -> dict | None:
            row = conn.execute("SELECT owner FROM mail_domains WHERE name = %s FOR UPDATE", (name,)).fetchone()
            if row is None:
                return None
            if row["owner"] != owner and not (unmarked_too and row["owner"] is None):
                raise domain_not_ours(name, row["owner"], owner)
            return conn.execute(
                "UPDATE mail_domains SET dkim_selector = %s, dkim_private_key = %s, owner = %s, routable = %s "
                "WHERE name = %s RETURNING name", (selector, encrypted_key, owner, routable, name)).fetchone()

        return self._transaction(f"writing mail domain {name}", work)

    def mark_domain(self, name: str, owner: str) -> dict | None:
        """Mark a row that carries no mark (or ours already) as `owner`'s and nothing else: an
        import taking the domain over as it is. The row as it now is; None when there is none;
        NotOurs when another owner holds it."""
        def work(conn: psycopg.Connection) -> dict | None:
            row = conn.execute("SELECT owner FROM mail_domains WHERE name = %s FOR UPDATE", (name,)).fetchone()
            if row is None:
                return None
            if row["owner"] not in (None, owner):
                raise domain_not_ours(name, row["owner"], owner)
            return conn.execute(
                "UPDATE mail_domains SET owner = %s WHERE name = %s "
                "RETURNING name, dkim_selector, dkim_private_key, owner, routable", (owner, name)).fetchone()

        return self._transaction(f"marking mail domain {name}", work)

    def reseal_dkim_keys(self, reseal: Callable[[str], str | None]) -> tuple[int, int]:
        """Each stored DKIM key replaced by reseal(key) in one transaction: (resealed, left as
        they were because reseal gave None)."""
        def work(conn: psycopg.Connection) -> tuple[int, int]:
            resealed = unreadable = 0
            rows = conn.execute("SELECT name, dkim_private_key FROM mail_domains "
                                "WHERE dkim_private_key IS NOT NULL FOR UPDATE").fetchall()
            for row in rows:
                token = reseal(row["dkim_private_key"])
                if token is None:
                    unreadable += 1
                    continue
                conn.execute("UPDATE mail_domains SET dkim_private_key = %s WHERE name = %s", (token, row["name"]))
                resealed += 1
            return resealed, unreadable

        return self._transaction("re-sealing the DKIM keys", work)

    def delete_domain(self, name: str) -> None:
        # Its mailboxes go with it (ON DELETE CASCADE).
        self._transaction(f"deleting mail domain {name}", lambda conn: conn.execute(
            "DELETE FROM mail_domains WHERE name = %s", (name,)))

    # mailboxes
    def get_mailbox(self, address: str) -> dict | None:
        """The mailbox with the owner of its domain (a mailbox's mark is its domain's)."""
        return self._transaction(f"reading mailbox {address}", lambda conn: conn.execute(
            "SELECT m.address, m.quota_mb, m.active, d.owner FROM mailboxes m "
            "JOIN mail_domains d ON d.name = m.domain WHERE m.address = %s", (address,)).fetchone())

    def list_mailboxes(self, domain: str) -> list[dict]:
        """The mailboxes of one domain: address, local_part, quota_mb, active."""
        return self._transaction(f"listing the mailboxes of {domain}", lambda conn: conn.execute(
            "SELECT address, local_part, quota_mb, active FROM mailboxes WHERE domain = %s ORDER BY address",
            (domain,)).fetchall())

    def put_mailbox(self, address: str, password_hash: str, quota_mb: int, owner: str, *,
                    keep_password: bool = False, unmarked_too: bool = False) -> None:
        """Insert, or take over an existing row (adoption): the given hash and quota win, active again.
        Only under a mail domain marked for `owner` (`unmarked_too`: or not marked at all).
        `keep_password`: an existing row keeps its hash (the given one is for a fresh insert only)."""
        local, domain = address.split("@")

        def work(conn: psycopg.Connection) -> None:
            # FOR SHARE: a concurrent delete (or change of mark) of the domain waits for us.
            row = conn.execute("SELECT owner FROM mail_domains WHERE name = %s FOR SHARE", (domain,)).fetchone()
            if row is None:
                raise ProviderError(PROVIDER, f"mail domain {domain} does not exist in mail-core: "
                                          f"create its MailDomain before the mailbox {address}", code="no-domain")
            if row["owner"] != owner and not (unmarked_too and row["owner"] is None):
                raise NotOurs(PROVIDER, f"the mailbox {address} is under the mail domain {domain}, which "
                                        f"{held_by(row['owner'])}, not to the stack {owner}; refusing to write it")
            conn.execute(
                "INSERT INTO mailboxes (address, local_part, domain, password_hash, quota_mb, active) "
                "VALUES (%s, %s, %s, %s, %s, true) ON CONFLICT (address) DO UPDATE SET "
                "password_hash = CASE WHEN %s THEN mailboxes.password_hash ELSE EXCLUDED.password_hash END, "
                "quota_mb = EXCLUDED.quota_mb, active = true",
                (address, local, domain, password_hash, quota_mb, keep_password))

        self._transaction(f"writing mailbox {address}", work)

    def delete_mailbox(self, address: str) -> None:
        self._transaction(f"deleting mailbox {address}", lambda conn: conn.execute(
            "DELETE FROM mailboxes WHERE address = %s", (address,)))


def held_by(owner: str | None) -> str:
    return f"belongs to the stack {owner}" if owner else "mpanel did not create (it carries no owner mark)"


def domain_not_ours(name: str, holder: str | None, owner: str) -> NotOurs:
    return NotOurs(PROVIDER, f"the mail domain {name} already exists in mail-core and {held_by(holder)}, not to "
                             f"the stack {owner}; refusing to adopt it (its mailboxes and mail are left untouched)")


# --- secrets at rest and passwords ------------------------------------------------------------

def _fernet(config: ProviderConfig):
    # The same keyring as the application's own secrets (app/services/common/crypto.py), so
    # keys stored by either can be read by both, and rotated by `mpanel keys rotate`.
    from providers.core.sealing import keyring

    try:
        return keyring(config.MPANEL_ENCRYPTION_KEY)
    except ValueError as exc:
        raise ProviderError(PROVIDER, str(exc), code="not-configured") from None


def encrypt_key(config: ProviderConfig, pem: str) -> str:
    return _fernet(config).encrypt(pem.encode()).decode()


def decrypt_key(config: ProviderConfig, token: str) -> str | None:
    """The stored key, or None when it cannot be read with our keys (reported as drift)."""
    from providers.core.sealing import InvalidToken

    try:
        return _fernet(config).decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def reseal_keys(config: ProviderConfig) -> tuple[int, int]:
    """Every DKIM key in mail-core sealed again with the newest key: (resealed, unreadable).
    A key none of our keys opens is left as it is (read reports it as drift, a converge
    writes a fresh one)."""
    from providers.core.sealing import InvalidToken

    fernet = _fernet(config)

    def reseal(token: str) -> str | None:
        try:
            return fernet.rotate(token.encode()).decode()
        except InvalidToken:
            return None

    return MailCoreClient(config).reseal_dkim_keys(reseal)


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    # Dovecot's ARGON2ID scheme verifies the PHC string produced by argon2-cffi.
    return "{ARGON2ID}" + PasswordHasher().hash(password)


def new_password() -> str:
    # URL-safe alphabet: no quoting surprises in IMAP LOGIN or mail clients; 192 bits.
    return secrets.token_urlsafe(24)
