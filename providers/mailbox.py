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
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, \
    ResourceProvider, UpdateResult
from pulumi.runtime import rpc

from providers.base import DEFAULT_RETRY, ProviderError, RetryPolicy, changed_keys, is_unknown, runtime_settings

NAME = "mailbox"
T = TypeVar("T")

DEFAULT_SELECTOR = "mpanel"
DEFAULT_QUOTA_MB = 1024
QUOTA_RANGE = (10, 102400)
PASSWORD_LENGTH = (8, 256)

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Dot-atom: [a-z0-9._-], but no leading, trailing or doubled dot (which also keeps
# "." and ".." out of the maildir path).
_LOCAL_PART = re.compile(r"^(?!\.)(?!.*\.\.)[a-z0-9._-]{1,64}(?<!\.)$")


# --- validation shared by check() and by every path built from state ----------------------

def _known(value: Any) -> bool:
    """False for values the engine has not computed yet (previews)."""
    return not is_unknown(value)


def _plain(value: Any) -> Any:
    return rpc.unwrap_rpc_secret(value)


def domain_problem(domain: Any) -> str | None:
    if not isinstance(domain, str) or not domain:
        return "a domain name is required"
    if not domain.isascii():
        return "use the punycode (xn--) form of an internationalised domain"
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return f"{domain!r} is not a valid domain name (letters, digits and hyphens in dot-separated labels)"
    if labels[-1].isdigit():
        return f"{domain!r} is not a valid domain name (the top-level label is numeric)"
    return None


def address_problem(address: Any) -> str | None:
    if not isinstance(address, str) or address.count("@") != 1:
        return "address must look like local@domain"
    local, domain = address.split("@")
    if not _LOCAL_PART.match(local):
        return (f"the local part {local!r} must be 1-64 of a-z, 0-9, '.', '_' or '-', "
                "not starting or ending with a dot and without '..'")
    problem = domain_problem(domain)
    return f"the domain of the address is invalid: {problem}" if problem else None


def _normal_name(value: Any) -> Any:
    return value.strip().rstrip(".").lower() if isinstance(value, str) else value


def _as_int(value: Any) -> Any:
    # Numbers cross the engine as floats (1024 arrives as 1024.0).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def mail_root() -> Path:
    """Where the mail-core server keeps maildirs; the mail-core Dovecot config uses the same."""
    from app.settings import state_dir

    configured = getattr(runtime_settings(), "MAILCORE_MAIL_ROOT", "")
    return Path(configured) if configured else state_dir() / "mailcore"


def _maildir(*parts: str) -> Path:
    root = mail_root().resolve()
    path = root.joinpath(*parts).resolve()
    if path == root or root not in path.parents:
        raise ProviderError(NAME, f"refusing to touch {path}: it is not inside the mail root {root}")
    return path


def _remove_tree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ProviderError(NAME, f"cannot remove the maildir {path}: {exc.strerror}") from exc


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
        return ProviderError(NAME, "MAILCORE_DATABASE_URL is not a valid PostgreSQL connection string",
                             code="bad-dsn")
    if any(marker in text for marker in _PERMANENT_CONNECT):
        return ProviderError(NAME, f"the mail-core database refused the connection: {text}", code="refused")
    return ProviderError(NAME, f"cannot reach the mail-core database: {text}", code="unreachable",
                         retryable=True)


def statement_error(exc: psycopg.Error, action: str) -> ProviderError:
    """A failure while running SQL: classified by SQLSTATE."""
    state = exc.sqlstate
    detail = _first_line(exc)
    if isinstance(exc, (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)):
        return ProviderError(NAME, f"{action}: the database asked for a retry ({detail})", code=state,
                             retryable=True)
    if isinstance(exc, pg_errors.ForeignKeyViolation):
        return ProviderError(NAME, f"{action}: the mail domain does not exist in mail-core ({detail})",
                             code=state)
    if isinstance(exc, psycopg.IntegrityError):
        return ProviderError(NAME, f"{action}: the mail-core database rejected the row ({detail})", code=state)
    if state in _RETRYABLE_STATES or (state or "").startswith("08") or (
            state is None and isinstance(exc, psycopg.OperationalError)):
        return ProviderError(NAME, f"{action}: the connection to mail-core failed ({detail})", code=state,
                             retryable=True)
    return ProviderError(NAME, f"{action}: {detail}", code=state)


class MailCoreClient:
    """Named queries over the mail-core database; each call is one retried transaction."""

    def __init__(self, dsn: str, retry: RetryPolicy):
        self._dsn = dsn
        self._retry = retry

    @classmethod
    def from_settings(cls, retry: RetryPolicy) -> "MailCoreClient":
        dsn = runtime_settings().MAILCORE_DATABASE_URL
        if not dsn:
            raise ProviderError(NAME, "MAILCORE_DATABASE_URL is not set", code="not-configured")
        return cls(dsn, retry)

    def _transaction(self, action: str, work: Callable[[psycopg.Connection], T]) -> T:
        def once() -> T:
            try:
                conn = psycopg.connect(self._dsn, connect_timeout=10, row_factory=dict_row)
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
                raise ProviderError(NAME, f"mail domain {domain} does not exist in mail-core: "
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

def _crypto_call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except RuntimeError as exc:  # app.services.crypto: no key configured
        raise ProviderError(NAME, str(exc), code="not-configured") from None
    except (ValueError, TypeError) as exc:  # not a Fernet key
        raise ProviderError(NAME, f"MPANEL_ENCRYPTION_KEY is not a valid Fernet key ({exc})",
                            code="not-configured") from None


def encrypt_key(pem: str) -> str:
    from app.services import crypto

    return _crypto_call(lambda: crypto.encrypt(runtime_settings(), pem).decode())


def decrypt_key(token: str) -> str | None:
    """The stored key, or None when it cannot be read with our key (reported as drift)."""
    from cryptography.fernet import InvalidToken

    from app.services import crypto

    try:
        return _crypto_call(lambda: crypto.decrypt(runtime_settings(), token.encode()))
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

class MailDomainProvider(ResourceProvider):
    """A domain the mail-core server accepts mail for, with its DKIM signing key."""

    retry = DEFAULT_RETRY
    fields = ("domain", "dkim_selector", "dkim_private_key")

    def _client(self) -> MailCoreClient:
        return MailCoreClient.from_settings(self.retry)

    def check(self, olds, news):
        inputs = {**news, "domain": _normal_name(_plain(news.get("domain"))),
                  "dkim_selector": _normal_name(_plain(news.get("dkim_selector"))) or DEFAULT_SELECTOR,
                  "dkim_private_key": _plain(news.get("dkim_private_key"))}
        failures = []
        if _known(inputs["domain"]) and (problem := domain_problem(inputs["domain"])):
            failures.append(CheckFailure("domain", problem))
        selector = inputs["dkim_selector"]
        if _known(selector) and not (isinstance(selector, str) and all(_LABEL.match(p) for p in selector.split("."))):
            failures.append(CheckFailure("dkim_selector", "dkim_selector must be DNS labels of a-z, 0-9 and '-'"))
        key = inputs["dkim_private_key"]
        if key is None:
            inputs.pop("dkim_private_key")
        elif _known(key):
            if not isinstance(key, str) or not _loads_as_private_key(key):
                # Never echo the value: it is a private key.
                failures.append(CheckFailure("dkim_private_key", "dkim_private_key must be a PEM private key "
                                                                 "without a passphrase"))
            else:
                inputs["dkim_private_key"] = key.strip() + "\n"
        return CheckResult(inputs, failures)

    def diff(self, _id, olds, news):
        changes = changed_keys(olds, news, self.fields)
        return DiffResult(changes=bool(changes), replaces=["domain"] if "domain" in changes else [],
                          delete_before_replace=False)

    def _put(self, props) -> dict:
        key = props.get("dkim_private_key")
        self._client().put_domain(props["domain"], props["dkim_selector"], encrypt_key(key) if key else None)
        return self._outputs(props["domain"], props["dkim_selector"], key)

    @staticmethod
    def _outputs(domain: str, selector: str, key: str | None) -> dict:
        outs = {"domain": domain, "dkim_selector": selector}
        if key:
            outs["dkim_private_key"] = key
        return outs

    def create(self, props):
        # An existing row (a create that crashed before being recorded) is adopted by the upsert.
        return CreateResult(id_=props["domain"], outs=self._put(props))

    def update(self, _id, _olds, news):
        return UpdateResult(outs=self._put(news))

    def read(self, id_, props):
        row = self._client().get_domain(id_)
        if row is None:
            return ReadResult(id_="", outs={})
        key = decrypt_key(row["dkim_private_key"]) if row["dkim_private_key"] else None
        return ReadResult(id_=id_, outs=self._outputs(row["name"], row["dkim_selector"], key))

    def delete(self, id_, _props):
        if domain_problem(id_):
            raise ProviderError(NAME, f"the recorded mail domain id {id_!r} is not a domain name")
        self._client().delete_domain(id_)
        _remove_tree(_maildir(id_))


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
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["dkim_private_key"]))
        super().__init__(MailDomainProvider(), name, {
            "domain": domain, "dkim_selector": dkim_selector, "dkim_private_key": dkim_private_key}, opts)


# --- Mailbox ----------------------------------------------------------------------------------

class MailboxProvider(ResourceProvider):
    """One IMAP mailbox; its password leaves the provider only as a secret output."""

    retry = DEFAULT_RETRY

    def _client(self) -> MailCoreClient:
        return MailCoreClient.from_settings(self.retry)

    def check(self, olds, news):
        inputs = {**news, "address": _normal_name(_plain(news.get("address"))),
                  "quota_mb": _as_int(_plain(news.get("quota_mb")))}
        if inputs["quota_mb"] is None:
            inputs["quota_mb"] = DEFAULT_QUOTA_MB
        password = _plain(news.get("password"))
        if password is None:
            inputs.pop("password", None)
        else:
            inputs["password"] = password
        failures = []
        if _known(inputs["address"]) and (problem := address_problem(inputs["address"])):
            failures.append(CheckFailure("address", problem))
        quota = inputs["quota_mb"]
        low, high = QUOTA_RANGE
        if _known(quota) and (not isinstance(quota, int) or isinstance(quota, bool) or not low <= quota <= high):
            failures.append(CheckFailure("quota_mb", f"quota_mb must be a whole number of MB from {low} to {high}"))
        if password is not None and _known(password):
            shortest, longest = PASSWORD_LENGTH
            if not isinstance(password, str) or not shortest <= len(password) <= longest:
                failures.append(CheckFailure("password", f"password must be {shortest} to {longest} characters"))
            elif any(ord(c) < 32 or ord(c) == 127 for c in password):
                failures.append(CheckFailure("password", "password must not contain control characters"))
        return CheckResult(inputs, failures)

    def diff(self, _id, olds, news):
        changes = changed_keys(olds, news, ("address", "quota_mb"))
        # A new generation is a new mailbox at the same address (removed and added again by the
        # customer): the old one and its mail go first. A generation first recorded is no change.
        new_generation = news.get("generation") is not None and olds.get("generation") != news.get("generation")
        if new_generation and olds.get("generation") is not None:
            return DiffResult(changes=True, replaces=["generation"], delete_before_replace=True)
        if new_generation:
            changes.append("generation")
        # No password input means "keep the one we generated"; only a new given one is a change.
        if news.get("password") is not None and news.get("password") != olds.get("password"):
            changes.append("password")
        # A mailbox disabled behind our back (seen by refresh) is switched back on.
        if olds.get("active") is False:
            changes.append("active")
        return DiffResult(changes=bool(changes), replaces=["address"] if "address" in changes else [],
                          delete_before_replace=False)

    def _put(self, address: str, quota_mb: int, password: str, keep_password: bool = False,
             generation: int | None = None) -> dict:
        home = _maildir(*reversed(address.split("@")))
        self._client().put_mailbox(address, hash_password(password), quota_mb, keep_password=keep_password)
        return {"address": address, "quota_mb": quota_mb, "password": password, "home": str(home),
                "active": True, "generation": generation}

    def create(self, props):
        # Adoption: a row left by a crash after INSERT gets the password we return, so the
        # secret output always logs in. Mail already on disk for the address is kept.
        password = props.get("password") or new_password()
        return CreateResult(id_=props["address"], outs=self._put(props["address"], props["quota_mb"], password,
                                                                 generation=props.get("generation")))

    def update(self, _id, olds, news):
        # Only a new given password is written: the customer may have changed theirs in webmail
        # since, and a quota change or a re-enable must not reset it. (The secret output stays
        # the password we last set: the temporary one from the welcome email.)
        given = news.get("password")
        if given is not None and given != olds.get("password"):
            return UpdateResult(outs=self._put(news["address"], news["quota_mb"], given,
                                               generation=news.get("generation")))
        password = olds.get("password") or new_password()
        return UpdateResult(outs=self._put(news["address"], news["quota_mb"], password,
                                           keep_password=bool(olds.get("password")), generation=news.get("generation")))

    def read(self, id_, props):
        row = self._client().get_mailbox(id_)
        if row is None:
            return ReadResult(id_="", outs={})
        outs = {**{k: props[k] for k in ("password", "home", "generation") if k in props},
                "address": row["address"], "quota_mb": row["quota_mb"], "active": row["active"]}
        return ReadResult(id_=id_, outs=outs)

    def delete(self, id_, _props):
        if address_problem(id_):
            raise ProviderError(NAME, f"the recorded mailbox id {id_!r} is not a mailbox address")
        self._client().delete_mailbox(id_)
        _remove_tree(_maildir(*reversed(id_.split("@"))))


class Mailbox(Resource, module="mailcore", name="Mailbox"):
    address: pulumi.Output[str]
    quota_mb: pulumi.Output[int]
    password: pulumi.Output[str]
    home: pulumi.Output[str]
    active: pulumi.Output[bool]

    def __init__(self, name: str, *, address, quota_mb=DEFAULT_QUOTA_MB, password=None, generation=None,
                 opts: pulumi.ResourceOptions | None = None):
        """`generation`: changes when the mailbox at this address is a new one (replaced, mail and all)."""
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["password"]))
        super().__init__(MailboxProvider(), name, {
            "address": address, "quota_mb": quota_mb, "password": password, "generation": generation,
            "home": None, "active": None}, opts)
