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
from pulumi.dynamic import Resource

from providers.core.config import ProviderConfig, current
from providers.core import sql
from providers.core.errors import NotFound, NotOurs, ProviderError
from providers.core.names import bare, domain_problem, label_ok
from providers.core.resource import OWNER, Input, ProviderAdapter
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


class MailCoreClient:
    """The mail-core server: named queries over its database (each call one retried
    transaction), and the maildirs Dovecot keeps under its mail root."""

    def __init__(self, config: ProviderConfig, retry: RetryPolicy = DEFAULT_RETRY, timeout: float = 10.0):
        if not config.MAILCORE_DATABASE_URL:
            raise ProviderError(PROVIDER, "MAILCORE_DATABASE_URL is not set", code="not-configured")
        self._dsn = config.MAILCORE_DATABASE_URL
        self._mail_root = config.MAILCORE_MAIL_ROOT
        self._db = sql.Database(PROVIDER, self._dsn, retry, timeout, MAILCORE)

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
        self._db.ensure("mail_domains.owner", _OWNER_COLUMN_PRESENT, _OWNER_COLUMN)
        return self._db.transaction(action, work)

    # mail domains
    def get_domain(self, name: str) -> dict | None:
        return self._transaction(f"reading mail domain {name}", lambda conn: conn.execute(
            "SELECT name, dkim_selector, dkim_private_key, owner FROM mail_domains WHERE name = %s",
            (name,)).fetchone())

    def insert_domain(self, name: str, selector: str, encrypted_key: str | None, owner: str) -> bool:
        """A new row marked with its owner; False (nothing written) when the name is taken."""
        return self._transaction(f"writing mail domain {name}", lambda conn: conn.execute(
            "INSERT INTO mail_domains (name, dkim_selector, dkim_private_key, owner) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (name) DO NOTHING RETURNING name", (name, selector, encrypted_key, owner)).fetchone()
            is not None)

    def update_domain(self, name: str, selector: str, encrypted_key: str | None, owner: str, *,
                      unmarked_too: bool = False) -> dict | None:
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
                "UPDATE mail_domains SET dkim_selector = %s, dkim_private_key = %s, owner = %s WHERE name = %s "
                "RETURNING name", (selector, encrypted_key, owner, name)).fetchone()

        return self._transaction(f"writing mail domain {name}", work)

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
                                        f"{_held_by(row['owner'])}, not to the stack {owner}; refusing to write it")
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


def _held_by(owner: str | None) -> str:
    return f"belongs to the stack {owner}" if owner else "mpanel did not create (it carries no owner mark)"


def domain_not_ours(name: str, holder: str | None, owner: str) -> NotOurs:
    return NotOurs(PROVIDER, f"the mail domain {name} already exists in mail-core and {_held_by(holder)}, not to "
                             f"the stack {owner}; refusing to adopt it (its mailboxes and mail are left untouched)")


# --- secrets at rest and passwords ------------------------------------------------------------

def _fernet(config: ProviderConfig):
    # The same Fernet tokens as the application's own secrets (app/services/common/crypto.py), so
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

    The row carries its owner (the stack); an existing row is adopted only when it carries ours
    (a create that crashed before being recorded)."""
    KIND = "mail-domain"  # what the state stores (providers/stored.py)

    PROVIDER = PROVIDER
    WHAT = "the mail domain"
    INPUTS = (
        Input("domain", _domain, required=True),
        Input("dkim_selector", _selector, default=DEFAULT_SELECTOR),
        Input("dkim_private_key", _private_key),
        OWNER,
    )
    REPLACES = ("domain",)
    SECRETS = ("dkim_private_key",)
    CUSTOMER_DATA = True
    timeout = 10.0

    def client(self) -> MailCoreClient:
        return MailCoreClient(current(), self.retry, self.timeout)

    def named(self, props):
        return f"the mail domain {props.get('domain')}"

    def existing(self, client, props):
        return client.get_domain(props["domain"])

    def owns(self, found, props):
        return found["owner"] == props["owner"]

    def not_ours(self, found, props):
        return domain_not_ours(found["name"], found["owner"], props["owner"])

    def adopt(self, client, _found, props):
        if client.update_domain(props["domain"], props["dkim_selector"], self._encrypted(props), props["owner"]) \
                is None:
            return self.make(client, props)  # removed since we looked
        return props["domain"], self._outputs(props)

    def make(self, client, props):
        if not client.insert_domain(props["domain"], props["dkim_selector"], self._encrypted(props), props["owner"]):
            # Made by someone between our lookup and our insert: judged like any existing row.
            found = client.get_domain(props["domain"])
            if found is not None and not self.owns(found, props):
                raise self.not_ours(found, props)
            return self.adopt(client, found, props)
        return props["domain"], self._outputs(props)

    def observe(self, client, id_, props):
        row = client.get_domain(id_)
        if row is None:
            raise NotFound(PROVIDER, f"mail domain {id_} does not exist in mail-core")
        key = decrypt_key(current(), row["dkim_private_key"]) if row["dkim_private_key"] else None
        return id_, self._outputs({"domain": row["name"], "dkim_selector": row["dkim_selector"],
                                   "dkim_private_key": key, "owner": row["owner"]})

    def change(self, client, _id, _olds, news):
        # The row in our state is ours even without a mark (made before marks existed): it gets ours.
        written = client.update_domain(news["domain"], news["dkim_selector"], self._encrypted(news), news["owner"],
                                       unmarked_too=True)
        if written is None and not client.insert_domain(news["domain"], news["dkim_selector"],
                                                        self._encrypted(news), news["owner"]):
            raise self.not_ours(client.get_domain(news["domain"]), news)
        return self._outputs(news)

    def remove(self, client, id_, _props):
        if domain_problem(id_):
            raise ProviderError(PROVIDER, f"the recorded mail domain id {id_!r} is not a domain name")
        client.delete_domain(id_)
        client.remove_maildir(id_)

    @staticmethod
    def _encrypted(props: dict) -> str | None:
        key = props.get("dkim_private_key")
        return encrypt_key(current(), key) if key else None

    @staticmethod
    def _outputs(props: dict) -> dict:
        outs = {"domain": props["domain"], "dkim_selector": props["dkim_selector"], "owner": props.get("owner")}
        if props.get("dkim_private_key"):
            outs["dkim_private_key"] = props["dkim_private_key"]
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

    owner: pulumi.Output[str]

    def __init__(self, name: str, *, domain, owner, dkim_private_key=None, dkim_selector=DEFAULT_SELECTOR,
                 opts: pulumi.ResourceOptions | None = None):
        """`owner`: the stack (e.g. "sub-42") the row is marked with."""
        super().__init__(MailDomainProvider(), name, {
            "domain": domain, "dkim_selector": dkim_selector, "dkim_private_key": dkim_private_key,
            "owner": owner}, MailDomainProvider.options(opts))


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

    A mailbox's mark is its domain's owner: a row is written (created, or adopted after a
    crash after INSERT) only under a mail domain marked for this stack, and an adopted row
    gets the password create returns, so the secret output always logs in. Mail already on
    disk for the address is kept."""
    KIND = "mailbox"  # what the state stores (providers/stored.py)

    PROVIDER = PROVIDER
    WHAT = "the mailbox"
    INPUTS = (
        Input("address", _address, required=True),
        Input("quota_mb", _quota, default=DEFAULT_QUOTA_MB),
        Input("password", _password),
        Input("generation"),
        OWNER,
    )
    REPLACES = ("address",)
    # No password input means "keep the one we generated"; only a new given one is a change.
    GENERATED = ("password",)
    NOT_DIFFED = ("generation",)
    SECRETS = ("password",)
    CUSTOMER_DATA = True
    # A new generation is the customer's own doing (removed and added again): allowed.
    CUSTOMER_REPLACES = ("generation",)
    timeout = 10.0

    def client(self) -> MailCoreClient:
        return MailCoreClient(current(), self.retry, self.timeout)

    def named(self, props):
        return f"the mailbox {props.get('address')}"

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

    def existing(self, client, props):
        return client.get_mailbox(props["address"])

    def owns(self, found, props):
        return found["owner"] == props["owner"]

    def not_ours(self, found, props):
        domain = props["address"].split("@")[1]
        return NotOurs(PROVIDER, f"the mailbox {props['address']} already exists under the mail domain {domain}, "
                                 f"which {_held_by(found['owner'])}, not to the stack {props['owner']}; "
                                 "refusing to adopt it (its password and mail are left untouched)")

    def adopt(self, client, _found, props):
        return self.make(client, props)

    def make(self, client, props):
        password = props.get("password") or new_password()
        return props["address"], self._put(client, props, props["quota_mb"], password)

    def observe(self, client, id_, props):
        row = client.get_mailbox(id_)
        if row is None:
            raise NotFound(PROVIDER, f"mailbox {id_} does not exist in mail-core")
        return id_, {**{k: props[k] for k in ("password", "home", "generation") if k in props},
                     "address": row["address"], "quota_mb": row["quota_mb"], "active": row["active"],
                     "owner": row["owner"]}

    def change(self, client, _id, olds, news):
        # Only a new given password is written: the customer may have changed theirs in webmail
        # since, and a quota change or a re-enable must not reset it. (The secret output stays
        # the password we last set: the temporary one from the welcome email.)
        given = news.get("password")
        # A mailbox in our state is ours even when its domain has no mark yet (made before marks).
        if given is not None and given != olds.get("password"):
            return self._put(client, news, news["quota_mb"], given, unmarked_too=True)
        password = olds.get("password") or new_password()
        return self._put(client, news, news["quota_mb"], password, keep_password=bool(olds.get("password")),
                         unmarked_too=True)

    def remove(self, client, id_, _props):
        if address_problem(id_):
            raise ProviderError(PROVIDER, f"the recorded mailbox id {id_!r} is not a mailbox address")
        client.delete_mailbox(id_)
        client.remove_maildir(*reversed(id_.split("@")))

    @staticmethod
    def _put(client: MailCoreClient, props: dict, quota_mb: int, password: str, keep_password: bool = False,
             unmarked_too: bool = False) -> dict:
        address = props["address"]
        home = client.maildir(*reversed(address.split("@")))
        client.put_mailbox(address, hash_password(password), quota_mb, props["owner"], keep_password=keep_password,
                           unmarked_too=unmarked_too)
        return {"address": address, "quota_mb": quota_mb, "password": password, "home": str(home),
                "active": True, "generation": props.get("generation"), "owner": props["owner"]}


class Mailbox(Resource, module="mailcore", name="Mailbox"):
    address: pulumi.Output[str]
    quota_mb: pulumi.Output[int]
    password: pulumi.Output[str]
    home: pulumi.Output[str]
    active: pulumi.Output[bool]
    owner: pulumi.Output[str]

    def __init__(self, name: str, *, address, owner, quota_mb=DEFAULT_QUOTA_MB, password=None, generation=None,
                 opts: pulumi.ResourceOptions | None = None):
        """`generation`: changes when the mailbox at this address is a new one (replaced, mail and all).
        `owner`: the stack (e.g. "sub-42"); the mailbox is written only under a mail domain marked for it."""
        super().__init__(MailboxProvider(), name, {
            "address": address, "quota_mb": quota_mb, "password": password, "generation": generation,
            "owner": owner, "home": None, "active": None}, MailboxProvider.options(opts))
