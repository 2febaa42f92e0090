"""Mail domains and mailboxes on the mail-core server (Dovecot reading a PostgreSQL database).

Dovecot authenticates against the `mailboxes` table and keeps each mailbox's mail in
<mail root>/<domain>/<local part> (tools/services/servers.py), so provisioning is rows
in the mail-core database plus, on delete, removing the maildir from disk.

Two resources, in dependency order:
- `MailDomain`: one row in `mail_domains`, with the DKIM private key encrypted at rest.
- `Mailbox`: one row in `mailboxes`; the password is stored only as an `{ARGON2ID}` hash
  and handed back once, as a secret output.
"""
from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path
from typing import Any, Callable, TypeVar

import psycopg
import pulumi
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from pulumi.dynamic import Resource

from providers.core.config import ProviderConfig, current
from providers.core.errors import NotFound, ProviderError
from providers.core.names import bare, domain_problem, label_ok
from providers.core.resource import Input, ProviderAdapter
from providers.core.retry import DEFAULT_RETRY, RetryPolicy

PROVIDER = "mailbox"
T = TypeVar("T")

DEFAULT_SELECTOR = "mpanel"
DEFAULT_QUOTA_MB = 1024
QUOTA_RANGE = (10, 102400)
PASSWORD_LENGTH = (8, 256)

# Dot-atom: [a-z0-9._-], but no leading, trailing or doubled dot (which also keeps
# "." and ".." out of the maildir path).
_LOCAL_PART = re.compile(r"^(?!\.)(?!.*\.\.)[a-z0-9._-]{1,64}(?<!\.)$")


# --- names -------------------------------------------------------------------------------

def address_problem(address: Any) -> str | None:
    if not isinstance(address, str) or address.count("@") != 1:
        return "address must look like local@domain"
    local, domain = address.split("@")
    if not _LOCAL_PART.match(local):
        return (f"the local part {local!r} must be 1-64 of a-z, 0-9, '.', '_' or '-', "
                "not starting or ending with a dot and without '..'")
    problem = domain_problem(domain)
    return f"the domain of the address is invalid: {problem}" if problem else None


# --- the mail-core database -----------------------------------------------------------------

# libpq reports these connection failures as plain text (no SQLSTATE reaches psycopg at
# connect time); they will not heal by trying again.
_PERMANENT_CONNECT = ("password authentication failed", "does not exist", "no pg_hba.conf entry",
                      "no password supplied", "permission denied", "authentication method")
_RETRYABLE_STATES = {"57P01", "57P02", "57P03", "53300", "55P03"}
_SECRET_IN_DSN = re.compile(r"(://[^:/@\s]+:)[^@\s]+@|(password\s*=\s*)\S+", re.IGNORECASE)


def _scrub(text: str) -> str:
    return _SECRET_IN_DSN.sub(lambda m: f"{m.group(1)}***@" if m.group(1) else f"{m.group(2)}***", text)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return _scrub(lines[0]) if lines else type(exc).__name__


def connect_error(exc: psycopg.Error) -> ProviderError:
    """A failure to open a connection: unreachable is transient, refused credentials are not."""
    text = _first_line(exc)
    if isinstance(exc, psycopg.ProgrammingError):
        return ProviderError(PROVIDER, "MAILCORE_DATABASE_URL is not a valid PostgreSQL connection string",
                             code="bad-dsn")
    if any(marker in text for marker in _PERMANENT_CONNECT):
        return ProviderError(PROVIDER, f"the mail-core database refused the connection: {text}", code="refused")
    return ProviderError(PROVIDER, f"cannot reach the mail-core database: {text}", code="unreachable",
                         retryable=True)


def statement_error(exc: psycopg.Error, action: str) -> ProviderError:
    """A failure while running SQL: classified by SQLSTATE."""
    state = exc.sqlstate
    detail = _first_line(exc)
    if isinstance(exc, (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)):
        return ProviderError(PROVIDER, f"{action}: the database asked for a retry ({detail})", code=state,
                             retryable=True)
    if isinstance(exc, pg_errors.ForeignKeyViolation):
        return ProviderError(PROVIDER, f"{action}: the mail domain does not exist in mail-core ({detail})",
                             code=state)
    if isinstance(exc, psycopg.IntegrityError):
        return ProviderError(PROVIDER, f"{action}: the mail-core database rejected the row ({detail})", code=state)
    if state in _RETRYABLE_STATES or (state or "").startswith("08") or (
            state is None and isinstance(exc, psycopg.OperationalError)):
        return ProviderError(PROVIDER, f"{action}: the connection to mail-core failed ({detail})", code=state,
                             retryable=True)
    return ProviderError(PROVIDER, f"{action}: {detail}", code=state)


class MailCoreClient:
    """The mail-core server: named queries over its database (each call one retried
    transaction), and the maildirs Dovecot keeps under its mail root."""

    def __init__(self, config: ProviderConfig, retry: RetryPolicy = DEFAULT_RETRY, timeout: float = 10.0):
        if not config.MAILCORE_DATABASE_URL:
            raise ProviderError(PROVIDER, "MAILCORE_DATABASE_URL is not set", code="not-configured")
        self._dsn = config.MAILCORE_DATABASE_URL
        self._mail_root = config.MAILCORE_MAIL_ROOT
        self._retry = retry
        self._timeout = timeout

    # maildirs
    def maildir(self, *parts: str) -> Path:
        """<mail root>/<domain>[/<local part>], refused if it would leave the mail root."""
        if not self._mail_root:
            raise ProviderError(PROVIDER, "MAILCORE_MAIL_ROOT is not set", code="not-configured")
        root = Path(self._mail_root).resolve()
        path = root.joinpath(*parts).resolve()
        if path == root or root not in path.parents:
            raise ProviderError(PROVIDER, f"refusing to touch {path}: it is not inside the mail root {root}")
        return path

    def remove_maildir(self, *parts: str) -> None:
        path = self.maildir(*parts)
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ProviderError(PROVIDER, f"cannot remove the maildir {path}: {exc.strerror}") from exc

    def _transaction(self, action: str, work: Callable[[psycopg.Connection], T]) -> T:
        def once() -> T:
            try:
                conn = psycopg.connect(self._dsn, connect_timeout=self._timeout, row_factory=dict_row)
            except psycopg.Error as exc:
                # `from None`: libpq may quote the connection string, credentials included.
                raise connect_error(exc) from None
            try:
                with conn:
                    return work(conn)
            except psycopg.Error as exc:
                raise statement_error(exc, action) from exc

        return self._retry.run(once)

    # mail domains
    def get_domain(self, name: str) -> dict | None:
        return self._transaction(f"reading mail domain {name}", lambda conn: conn.execute(
            "SELECT name, dkim_selector, dkim_private_key FROM mail_domains WHERE name = %s", (name,)).fetchone())

    def put_domain(self, name: str, selector: str, encrypted_key: str | None) -> None:
        self._transaction(f"writing mail domain {name}", lambda conn: conn.execute(
            "INSERT INTO mail_domains (name, dkim_selector, dkim_private_key) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET dkim_selector = EXCLUDED.dkim_selector, "
            "dkim_private_key = EXCLUDED.dkim_private_key", (name, selector, encrypted_key)))

    def delete_domain(self, name: str) -> None:
        # Its mailboxes go with it (ON DELETE CASCADE).
        self._transaction(f"deleting mail domain {name}", lambda conn: conn.execute(
            "DELETE FROM mail_domains WHERE name = %s", (name,)))

    # mailboxes
    def get_mailbox(self, address: str) -> dict | None:
        return self._transaction(f"reading mailbox {address}", lambda conn: conn.execute(
            "SELECT address, quota_mb, active FROM mailboxes WHERE address = %s", (address,)).fetchone())

    def put_mailbox(self, address: str, password_hash: str, quota_mb: int, *, keep_password: bool = False) -> None:
        """Insert, or take over an existing row (adoption): the given hash and quota win, active again.
        `keep_password`: an existing row keeps its hash (the given one is for a fresh insert only)."""
        local, domain = address.split("@")

        def work(conn: psycopg.Connection) -> None:
            # KEY SHARE: a concurrent delete of the domain waits for us instead of racing the insert.
            if conn.execute("SELECT 1 FROM mail_domains WHERE name = %s FOR KEY SHARE", (domain,)).fetchone() is None:
                raise ProviderError(PROVIDER, f"mail domain {domain} does not exist in mail-core: "
                                          f"create its MailDomain before the mailbox {address}", code="no-domain")
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


# --- secrets at rest and passwords ------------------------------------------------------------

def _fernet(config: ProviderConfig):
    # The same Fernet tokens as the application's own secrets (app/services/crypto.py), so
    # keys stored by either can be read by both.
    from cryptography.fernet import Fernet

    if not config.MPANEL_ENCRYPTION_KEY:
        raise ProviderError(PROVIDER, "MPANEL_ENCRYPTION_KEY is not set (a Fernet key: Fernet.generate_key())",
                            code="not-configured")
    try:
        return Fernet(config.MPANEL_ENCRYPTION_KEY.encode())
    except (ValueError, TypeError) as exc:
        raise ProviderError(PROVIDER, f"MPANEL_ENCRYPTION_KEY is not a valid Fernet key ({exc})",
                            code="not-configured") from None


def encrypt_key(config: ProviderConfig, pem: str) -> str:
    return _fernet(config).encrypt(pem.encode()).decode()


def decrypt_key(config: ProviderConfig, token: str) -> str | None:
    """The stored key, or None when it cannot be read with our key (reported as drift)."""
    from cryptography.fernet import InvalidToken

    try:
        return _fernet(config).decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    # Dovecot's ARGON2ID scheme verifies the PHC string produced by argon2-cffi.
    return "{ARGON2ID}" + PasswordHasher().hash(password)


def new_password() -> str:
    # URL-safe alphabet: no quoting surprises in IMAP LOGIN or mail clients; 192 bits.
    return secrets.token_urlsafe(24)


# --- MailDomain -------------------------------------------------------------------------------

def _name_checked_by(problem_of):
    """An input rule: the value in its bare form, refused with the rule's own reason."""
    def rule(value: Any) -> str:
        value = bare(value) if isinstance(value, str) else value
        problem = problem_of(value)
        if problem:
            raise ValueError(problem)
        return value
    return rule


_domain = _name_checked_by(domain_problem)


def _selector(value: Any) -> str:
    value = bare(value) if isinstance(value, str) else value
    if not (isinstance(value, str) and all(label_ok(p) for p in value.split("."))):
        raise ValueError("dkim_selector must be DNS labels of a-z, 0-9 and '-'")
    return value


def _private_key(value: Any) -> str:
    if not isinstance(value, str) or not _loads_as_private_key(value):
        # Never echo the value: it is a private key.
        raise ValueError("dkim_private_key must be a PEM private key without a passphrase")
    return value.strip() + "\n"


class MailDomainProvider(ProviderAdapter):
    """A domain the mail-core server accepts mail for, with its DKIM signing key: id = domain.

    An existing row (a create that crashed before being recorded) is adopted by the upsert."""

    PROVIDER = PROVIDER
    INPUTS = (
        Input("domain", _domain, required=True),
        Input("dkim_selector", _selector, default=DEFAULT_SELECTOR),
        Input("dkim_private_key", _private_key),
    )
    REPLACES = ("domain",)
    SECRETS = ("dkim_private_key",)
    timeout = 10.0

    def client(self) -> MailCoreClient:
        return MailCoreClient(current(), self.retry, self.timeout)

    def make(self, client, props):
        return props["domain"], self._put(client, props)

    def observe(self, client, id_, props):
        row = client.get_domain(id_)
        if row is None:
            raise NotFound(PROVIDER, f"mail domain {id_} does not exist in mail-core")
        key = decrypt_key(current(), row["dkim_private_key"]) if row["dkim_private_key"] else None
        return id_, self._outputs(row["name"], row["dkim_selector"], key)

    def change(self, client, _id, _olds, news):
        return self._put(client, news)

    def remove(self, client, id_, _props):
        if domain_problem(id_):
            raise ProviderError(PROVIDER, f"the recorded mail domain id {id_!r} is not a domain name")
        client.delete_domain(id_)
        client.remove_maildir(id_)

    def _put(self, client: MailCoreClient, props: dict) -> dict:
        key = props.get("dkim_private_key")
        client.put_domain(props["domain"], props["dkim_selector"], encrypt_key(current(), key) if key else None)
        return self._outputs(props["domain"], props["dkim_selector"], key)

    @staticmethod
    def _outputs(domain: str, selector: str, key: str | None) -> dict:
        outs = {"domain": domain, "dkim_selector": selector}
        if key:
            outs["dkim_private_key"] = key
        return outs


def _loads_as_private_key(pem: str) -> bool:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        load_pem_private_key(pem.encode(), password=None)
        return True
    except (ValueError, TypeError):
        return False


class MailDomain(Resource, module="mailcore", name="MailDomain"):
    domain: pulumi.Output[str]
    dkim_selector: pulumi.Output[str]
    dkim_private_key: pulumi.Output[str]

    def __init__(self, name: str, *, domain, dkim_private_key=None, dkim_selector=DEFAULT_SELECTOR,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(MailDomainProvider(), name, {
            "domain": domain, "dkim_selector": dkim_selector, "dkim_private_key": dkim_private_key},
            MailDomainProvider.options(opts))


# --- Mailbox ----------------------------------------------------------------------------------

_address = _name_checked_by(address_problem)


def _quota(value: Any) -> int:
    # Numbers cross the engine as floats (1024 arrives as 1024.0).
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    low, high = QUOTA_RANGE
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"quota_mb must be a whole number of MB from {low} to {high}")
    return value


def _password(value: Any) -> str:
    # Never echo the value in a reason.
    shortest, longest = PASSWORD_LENGTH
    if not isinstance(value, str) or not shortest <= len(value) <= longest:
        raise ValueError(f"password must be {shortest} to {longest} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("password must not contain control characters")
    return value


class MailboxProvider(ProviderAdapter):
    """One IMAP mailbox: id = address; its password leaves the provider only as a secret output.

    Adoption: a row left by a crash after INSERT is taken over by the upsert and gets the
    password create returns, so the secret output always logs in. Mail already on disk for
    the address is kept."""

    PROVIDER = PROVIDER
    INPUTS = (
        Input("address", _address, required=True),
        Input("quota_mb", _quota, default=DEFAULT_QUOTA_MB),
        Input("password", _password),
        Input("generation"),
    )
    REPLACES = ("address",)
    # No password input means "keep the one we generated"; only a new given one is a change.
    GENERATED = ("password",)
    NOT_DIFFED = ("generation",)
    SECRETS = ("password",)
    timeout = 10.0

    def client(self) -> MailCoreClient:
        return MailCoreClient(current(), self.retry, self.timeout)

    def more_changes(self, olds, news):
        changes, replaces = [], []
        # A new generation is a new mailbox at the same address (removed and added again by the
        # customer): the old one and its mail go first. A generation first recorded is no change.
        if news.get("generation") is not None and olds.get("generation") != news.get("generation"):
            (replaces if olds.get("generation") is not None else changes).append("generation")
        # A mailbox disabled behind our back (seen by refresh) is switched back on.
        if olds.get("active") is False:
            changes.append("active")
        return changes, replaces

    def delete_first(self, replaces):
        return "generation" in replaces

    def make(self, client, props):
        password = props.get("password") or new_password()
        return props["address"], self._put(client, props["address"], props["quota_mb"], password,
                                           generation=props.get("generation"))

    def observe(self, client, id_, props):
        row = client.get_mailbox(id_)
        if row is None:
            raise NotFound(PROVIDER, f"mailbox {id_} does not exist in mail-core")
        return id_, {**{k: props[k] for k in ("password", "home", "generation") if k in props},
                     "address": row["address"], "quota_mb": row["quota_mb"], "active": row["active"]}

    def change(self, client, _id, olds, news):
        # Only a new given password is written: the customer may have changed theirs in webmail
        # since, and a quota change or a re-enable must not reset it. (The secret output stays
        # the password we last set: the temporary one from the welcome email.)
        given = news.get("password")
        if given is not None and given != olds.get("password"):
            return self._put(client, news["address"], news["quota_mb"], given, generation=news.get("generation"))
        password = olds.get("password") or new_password()
        return self._put(client, news["address"], news["quota_mb"], password,
                         keep_password=bool(olds.get("password")), generation=news.get("generation"))

    def remove(self, client, id_, _props):
        if address_problem(id_):
            raise ProviderError(PROVIDER, f"the recorded mailbox id {id_!r} is not a mailbox address")
        client.delete_mailbox(id_)
        client.remove_maildir(*reversed(id_.split("@")))

    @staticmethod
    def _put(client: MailCoreClient, address: str, quota_mb: int, password: str, keep_password: bool = False,
             generation: int | None = None) -> dict:
        home = client.maildir(*reversed(address.split("@")))
        client.put_mailbox(address, hash_password(password), quota_mb, keep_password=keep_password)
        return {"address": address, "quota_mb": quota_mb, "password": password, "home": str(home),
                "active": True, "generation": generation}


class Mailbox(Resource, module="mailcore", name="Mailbox"):
    address: pulumi.Output[str]
    quota_mb: pulumi.Output[int]
    password: pulumi.Output[str]
    home: pulumi.Output[str]
    active: pulumi.Output[bool]

    def __init__(self, name: str, *, address, quota_mb=DEFAULT_QUOTA_MB, password=None, generation=None,
                 opts: pulumi.ResourceOptions | None = None):
        """`generation`: changes when the mailbox at this address is a new one (replaced, mail and all)."""
        super().__init__(MailboxProvider(), name, {
            "address": address, "quota_mb": quota_mb, "password": password, "generation": generation,
            "home": None, "active": None}, MailboxProvider.options(opts))
