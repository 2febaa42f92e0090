"""Mail domains and mailboxes against the real mail-core database and Dovecot.

Both providers run the shared contract; the extra tests prove what matters to a
customer over IMAP (the secret password opens the inbox, an old one stops working, a
deleted mailbox is gone) and what matters to ops (nothing secret is stored in plain).
"""
from __future__ import annotations

import imaplib
import pickle
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from providers.core.errors import NotOurs, ProviderError
from providers.clients.mailcore import connect_error, hash_password, statement_error
from providers.resources.mail_domain import MailDomainProvider
from providers.resources.mailbox import MailboxProvider
from tests.providers.conftest import reconfigure, restore_config
from tests.providers.contract import FAST_RETRY, OTHER_OWNER, OWNER, ProviderContract
from tests.providers.tcp_proxy import DroppingProxy

DOMAIN = f"mbx-{secrets.token_hex(3)}.test"


def _pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


DKIM_KEY = _pem()


# --- helpers ----------------------------------------------------------------------------------

def mailcore_url() -> str:
    """The real database, whatever a fault test has pointed the providers at."""
    from tools.services.layout import current

    return current().database_url("mailcore")


def query(sql: str, params: tuple = ()) -> list[dict]:
    with psycopg.connect(mailcore_url(), row_factory=dict_row, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def imap_opens_inbox(settings, address: str, password: str) -> bool:
    """LOGIN and SELECT INBOX: a login alone does not prove the mailbox is usable."""
    host, port = settings.IMAP_ADDRESS.rsplit(":", 1)
    imap = imaplib.IMAP4(host, int(port), timeout=10)
    try:
        try:
            imap.login(address, password)
        except imaplib.IMAP4.error:
            return False
        status, _ = imap.select("INBOX")
        assert status == "OK", f"{address} logged in but could not SELECT INBOX"
        return True
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


# Fault state lives at module level: the contract clears it from a fixture's teardown.
_FAULTS: list = []


def point_providers_at(url: str) -> None:
    reconfigure(MAILCORE_DATABASE_URL=url)
    _FAULTS.append(restore_config)


def start_dropping_proxy(drop: int = 1) -> DroppingProxy:
    from tools.services.layout import current

    proxy = DroppingProxy(("127.0.0.1", current().port("postgres")), drop=drop)
    _FAULTS.append(proxy.close)
    point_providers_at(f"postgresql://postgres@127.0.0.1:{proxy.port}/mailcore")
    return proxy


def clear_mailcore_faults() -> None:
    while _FAULTS:
        _FAULTS.pop()()


class MailCoreFaults:
    proxy: DroppingProxy | None = None

    def inject_fault(self, transient: bool) -> None:
        if transient:
            self.proxy = start_dropping_proxy()
        else:  # wrong credentials: a role the mail-core server does not know
            point_providers_at(mailcore_url().replace("postgres@", "no_such_role@"))

    def fault_fired(self) -> bool:
        return self.proxy is not None and self.proxy.accepted >= 2

    def clear_faults(self) -> None:
        clear_mailcore_faults()


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def encryption_key(base_provider_config):
    return base_provider_config.MPANEL_ENCRYPTION_KEY


@pytest.fixture(scope="module")
def mail_domain(settings, base_provider_config):
    from providers.core import config

    config.use(base_provider_config)
    provider = MailDomainProvider()
    provider.retry = FAST_RETRY
    inputs = provider.check({}, {"owner": OWNER, "domain": DOMAIN, "dkim_private_key": DKIM_KEY}).inputs
    result = provider.create(inputs)
    yield result.id
    provider.delete(result.id, result.outs)


@pytest.fixture
def mailboxes(settings, mail_domain):
    """Creates mailboxes as the engine would (check, then create) and deletes them afterwards."""
    provider = MailboxProvider()
    provider.retry = FAST_RETRY
    made = []

    def create(local: str | None = None, **extra):
        inputs = {"owner": OWNER, "address": f"{local or 'box-' + secrets.token_hex(3)}@{DOMAIN}", "quota_mb": 1024,
                  **extra}
        checked = provider.check({}, inputs)
        assert not checked.failures, checked.failures
        result = provider.create(checked.inputs)
        outs = {**checked.inputs, **result.outs}
        made.append((result.id, outs))
        return result.id, outs

    create.provider = provider
    yield create
    clear_mailcore_faults()
    for id_, outs in made:
        provider.delete(id_, outs)


def home_of(address: str) -> Path:
    from providers.core.config import current

    local, domain = address.split("@")
    return Path(current().MAILCORE_MAIL_ROOT) / domain / local


def plant_foreign_mail(domain: str, owner: str | None, local: str = "info") -> tuple[str, str]:
    """A mail domain made outside this stack (straight into mail-core: another stack's, or the
    operator's own without a mark) with one mailbox; (address, its password)."""
    password = "Theirs-" + secrets.token_hex(8)
    query("INSERT INTO mail_domains (name, owner) VALUES (%s, %s)", (domain, owner))
    query("INSERT INTO mailboxes (address, local_part, domain, password_hash, quota_mb) VALUES (%s, %s, %s, %s, 1024)",
          (f"{local}@{domain}", local, domain, hash_password(password)))
    return f"{local}@{domain}", password


def mail_rows(domain: str) -> list[dict]:
    return (query("SELECT * FROM mail_domains WHERE name = %s", (domain,))
            + query("SELECT * FROM mailboxes WHERE domain = %s ORDER BY address", (domain,)))


def remove_foreign_mail(domain: str) -> None:
    query("DELETE FROM mail_domains WHERE name = %s", (domain,))


class ForeignMail:
    """The contract's hooks for an object without our mark, shared by both mail-core resources."""

    foreign: tuple[str, str]

    @pytest.fixture(autouse=True)
    def _settings(self, settings):
        self.settings = settings

    def foreign_still_works(self, inputs):
        address, password = self.foreign
        return imap_opens_inbox(self.settings, address, password)


# --- the contract -----------------------------------------------------------------------------

class TestMailboxContract(ForeignMail, MailCoreFaults, ProviderContract):
    @pytest.fixture(autouse=True)
    def _domain_exists(self, mail_domain):
        pass

    def make_provider(self):
        return MailboxProvider()

    def new_inputs(self, unique):
        return {"owner": OWNER, "address": f"user-{unique}@{DOMAIN}", "quota_mb": 1024}

    def invalid_inputs(self, inputs):
        return [
            ({**inputs, "address": "no-at-sign"}, "address"),
            ({**inputs, "address": f"bad+plus@{DOMAIN}"}, "address"),
            ({**inputs, "address": f"{'a' * 65}@{DOMAIN}"}, "address"),
            ({**inputs, "address": f"..@{DOMAIN}"}, "address"),
            ({**inputs, "address": "info@not_a_domain"}, "address"),
            ({**inputs, "quota_mb": 9}, "quota_mb"),
            ({**inputs, "quota_mb": 102401}, "quota_mb"),
            ({**inputs, "quota_mb": "lots"}, "quota_mb"),
            ({**inputs, "password": "short"}, "password"),
        ]

    def in_place_change(self, inputs):
        return {**inputs, "quota_mb": 2048}, "quota_mb"

    def replacing_change(self, inputs):
        return {**inputs, "address": f"other-{secrets.token_hex(3)}@{DOMAIN}"}, "address"

    def expected_outputs(self, inputs):
        return {"address": inputs["address"], "quota_mb": 1024, "active": True}

    def exists_upstream(self, id_, outs):
        return bool(query("SELECT 1 FROM mailboxes WHERE address = %s", (id_,)))

    def make_drift(self, id_, outs):
        query("UPDATE mailboxes SET quota_mb = 512 WHERE address = %s", (id_,))
        return "quota_mb"

    def create_behind_pulumi(self, inputs):
        local, domain = inputs["address"].split("@")
        query("INSERT INTO mailboxes (address, local_part, domain, password_hash, quota_mb) "
              "VALUES (%s, %s, %s, %s, %s)",
              (inputs["address"], local, domain, "{ARGON2ID}lost-with-the-crash", inputs["quota_mb"]))
        return inputs["address"]

    def objects_upstream(self, inputs):
        return len(query("SELECT 1 FROM mailboxes WHERE address = %s", (inputs["address"],)))

    def create_foreign(self, inputs):
        # The same kind of address, under a mail domain this stack does not own.
        local = inputs["address"].split("@")[0]
        self.foreign = plant_foreign_mail(f"fx-{secrets.token_hex(3)}.test", OTHER_OWNER, local)
        return {**inputs, "address": self.foreign[0]}

    def upstream_snapshot(self, inputs):
        return mail_rows(inputs["address"].split("@")[1])

    def remove_foreign(self, inputs):
        remove_foreign_mail(inputs["address"].split("@")[1])


class TestMailDomainContract(ForeignMail, MailCoreFaults, ProviderContract):
    def make_provider(self):
        return MailDomainProvider()

    def new_inputs(self, unique):
        return {"owner": OWNER, "domain": f"md-{unique}.test", "dkim_private_key": DKIM_KEY}

    def invalid_inputs(self, inputs):
        return [
            ({**inputs, "domain": "not a domain"}, "domain"),
            ({**inputs, "domain": "localhost"}, "domain"),
            ({**inputs, "domain": "-bad.test"}, "domain"),
            ({**inputs, "dkim_selector": "bad selector!"}, "dkim_selector"),
            ({**inputs, "dkim_private_key": "not a key"}, "dkim_private_key"),
        ]

    def in_place_change(self, inputs):
        return {**inputs, "dkim_selector": "s2026"}, "dkim_selector"

    def replacing_change(self, inputs):
        return {**inputs, "domain": f"md-{secrets.token_hex(3)}.test"}, "domain"

    def expected_outputs(self, inputs):
        return {"domain": inputs["domain"], "dkim_selector": "mpanel", "dkim_private_key": inputs["dkim_private_key"]}

    def exists_upstream(self, id_, outs):
        return bool(query("SELECT 1 FROM mail_domains WHERE name = %s", (id_,)))

    def make_drift(self, id_, outs):
        query("UPDATE mail_domains SET dkim_selector = 'drifted' WHERE name = %s", (id_,))
        return "dkim_selector"

    def create_behind_pulumi(self, inputs):
        query("INSERT INTO mail_domains (name, owner) VALUES (%s, %s)", (inputs["domain"], inputs["owner"]))
        return inputs["domain"]

    def objects_upstream(self, inputs):
        return len(query("SELECT 1 FROM mail_domains WHERE name = %s", (inputs["domain"],)))

    def create_foreign(self, inputs):
        self.foreign = plant_foreign_mail(inputs["domain"], OTHER_OWNER)
        return inputs

    def upstream_snapshot(self, inputs):
        return mail_rows(inputs["domain"])

    def remove_foreign(self, inputs):
        remove_foreign_mail(inputs["domain"])


# --- mailboxes, as a customer sees them over IMAP ---------------------------------------------

def test_a_new_mailbox_opens_its_inbox_with_the_secret_output_password(settings, mailboxes):
    address, outs = mailboxes()
    assert imap_opens_inbox(settings, address, outs["password"])
    assert outs["home"] == str(home_of(address).resolve())
    assert home_of(address).is_dir()


def test_the_stored_hash_is_argon2id_and_never_the_password(mailboxes):
    address, outs = mailboxes()
    [row] = query("SELECT password_hash FROM mailboxes WHERE address = %s", (address,))
    assert row["password_hash"].startswith("{ARGON2ID}$argon2id$")
    assert outs["password"] not in row["password_hash"]


def test_a_missing_password_is_generated_strong_and_a_given_one_is_used(settings, mailboxes):
    _, generated = mailboxes()
    assert len(generated["password"]) >= 24
    chosen = "Correct-Horse-" + secrets.token_hex(4)
    address, outs = mailboxes(password=chosen)
    assert outs["password"] == chosen
    assert imap_opens_inbox(settings, address, chosen)


def test_a_new_password_works_and_the_old_one_stops_working(settings, mailboxes):
    address, outs = mailboxes()
    provider = mailboxes.provider
    old = outs["password"]
    news = provider.check(outs, {"owner": OWNER, "address": address, "quota_mb": 1024, "password": "New-" + secrets.token_hex(8)}).inputs
    diff = provider.diff(address, outs, news)
    assert diff.changes is True and diff.replaces == []
    updated = provider.update(address, outs, news).outs
    assert updated["password"] == news["password"]
    assert imap_opens_inbox(settings, address, news["password"])
    assert not imap_opens_inbox(settings, address, old)


def test_leaving_out_the_password_keeps_the_generated_one(mailboxes):
    address, outs = mailboxes()
    news = mailboxes.provider.check(outs, {"owner": OWNER, "address": address, "quota_mb": 1024.0}).inputs
    assert mailboxes.provider.diff(address, outs, news).changes is False


def test_a_deleted_mailbox_no_longer_logs_in_and_its_maildir_is_gone(settings, mailboxes):
    address, outs = mailboxes()
    assert imap_opens_inbox(settings, address, outs["password"])
    assert home_of(address).is_dir()
    mailboxes.provider.delete(address, outs)
    assert not imap_opens_inbox(settings, address, outs["password"])
    assert not home_of(address).exists()


def test_an_adopted_mailbox_logs_in_with_the_password_create_returned(settings, mailboxes):
    address = f"adopted-{secrets.token_hex(3)}@{DOMAIN}"
    query("INSERT INTO mailboxes (address, local_part, domain, password_hash, quota_mb, active) "
          "VALUES (%s, %s, %s, '{ARGON2ID}lost', 10, false)", (address, address.split("@")[0], DOMAIN))
    _, outs = mailboxes(address.split("@")[0], quota_mb=300)
    [row] = query("SELECT quota_mb, active FROM mailboxes WHERE address = %s", (address,))
    assert row == {"quota_mb": 300, "active": True}
    assert imap_opens_inbox(settings, address, outs["password"])


def test_a_mailbox_disabled_behind_our_back_is_switched_back_on(settings, mailboxes):
    address, outs = mailboxes()
    query("UPDATE mailboxes SET active = false WHERE address = %s", (address,))
    provider = mailboxes.provider
    read = provider.read(address, outs)
    assert read.outs["active"] is False
    olds = {**outs, **read.outs}
    news = provider.check(olds, {"owner": OWNER, "address": address, "quota_mb": 1024}).inputs
    assert provider.diff(address, olds, news).changes is True
    provider.update(address, olds, news)
    assert imap_opens_inbox(settings, address, outs["password"])


def test_a_quota_change_keeps_a_password_the_customer_changed_in_webmail(settings, mailboxes):
    from providers.clients.mailcore import hash_password

    address, outs = mailboxes()
    theirs = "Changed-In-Webmail-" + secrets.token_hex(4)
    query("UPDATE mailboxes SET password_hash = %s WHERE address = %s", (hash_password(theirs), address))
    provider = mailboxes.provider
    news = provider.check(outs, {"owner": OWNER, "address": address, "quota_mb": 2048}).inputs
    assert provider.diff(address, outs, news).changes is True
    provider.update(address, outs, news)
    [row] = query("SELECT quota_mb FROM mailboxes WHERE address = %s", (address,))
    assert row["quota_mb"] == 2048
    assert imap_opens_inbox(settings, address, theirs)
    assert not imap_opens_inbox(settings, address, outs["password"])


def test_a_new_generation_at_the_same_address_replaces_the_mailbox_and_its_mail(settings, mailboxes):
    address, outs = mailboxes(generation=7)
    assert outs["generation"] == 7
    provider = mailboxes.provider
    news = provider.check(outs, {"owner": OWNER, "address": address, "quota_mb": 1024, "generation": 7}).inputs
    assert provider.diff(address, outs, news).changes is False
    # Removed and added again by the customer: a new mailbox, the old one (and its mail) deleted first.
    news = provider.check(outs, {"owner": OWNER, "address": address, "quota_mb": 1024, "generation": 8}).inputs
    diff = provider.diff(address, outs, news)
    assert diff.replaces == ["generation"] and diff.delete_before_replace is True
    # A generation recorded for the first time (a mailbox made before generations) is no new mailbox.
    unversioned = {k: v for k, v in outs.items() if k != "generation"}
    diff = provider.diff(address, unversioned, news)
    assert diff.changes is True and diff.replaces == []


def test_a_mailbox_for_an_unknown_domain_fails_at_once_naming_the_domain(mailboxes):
    password = "Never-Shown-" + secrets.token_hex(6)
    inputs = mailboxes.provider.check({}, {"owner": OWNER, "address": "info@nowhere-mpanel.test", "password": password}).inputs
    with pytest.raises(ProviderError) as caught:
        mailboxes.provider.create(inputs)
    assert not caught.value.retryable
    assert "nowhere-mpanel.test" in str(caught.value)
    assert password not in str(caught.value)
    assert not query("SELECT 1 FROM mailboxes WHERE address = 'info@nowhere-mpanel.test'")


def test_check_never_echoes_a_rejected_password(mailboxes):
    password = "bad\r\nA001 LOGOUT"
    failures = mailboxes.provider.check({}, {"owner": OWNER, "address": f"x@{DOMAIN}", "password": password}).failures
    assert [f.property for f in failures] == ["password"]
    assert all(password not in f.reason for f in failures)


def test_a_dropped_connection_is_retried_on_a_new_one(settings, mailboxes):
    proxy = start_dropping_proxy(drop=1)
    address, outs = mailboxes()
    assert proxy.accepted >= 2
    clear_mailcore_faults()
    assert imap_opens_inbox(settings, address, outs["password"])


def test_an_unreachable_database_is_transient_and_refused_credentials_are_permanent():
    def connect(url):
        with pytest.raises(psycopg.OperationalError) as caught:
            psycopg.connect(url, connect_timeout=3)
        return connect_error(caught.value)

    unreachable = connect("postgresql://postgres@127.0.0.1:1/mailcore")
    refused = connect(mailcore_url().replace("postgres@", "no_such_role@"))
    assert unreachable.retryable and not refused.retryable
    bad_dsn = connect_error(psycopg.ProgrammingError("invalid dsn: postgresql://u:hunter2@"))
    assert not bad_dsn.retryable and "hunter2" not in str(bad_dsn)


@pytest.mark.parametrize("error, retryable", [
    (pg_errors.SerializationFailure("could not serialize access"), True),
    (pg_errors.DeadlockDetected("deadlock detected"), True),
    (pg_errors.AdminShutdown("terminating connection"), True),
    (psycopg.OperationalError("server closed the connection unexpectedly"), True),
    (pg_errors.UniqueViolation("duplicate key"), False),
    (pg_errors.ForeignKeyViolation("violates foreign key constraint"), False),
    (pg_errors.UndefinedTable('relation "mailboxes" does not exist'), False),
])
def test_database_errors_are_classified_transient_or_permanent(error, retryable):
    translated = statement_error(error, "writing mailbox x@example.test")
    assert translated.retryable is retryable
    assert translated.provider == "mailbox" and "x@example.test" in translated.message


def test_one_provider_serves_concurrent_creates(settings, mailboxes):
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda _: mailboxes(), range(4)))
    assert len({outs["password"] for _, outs in made}) == 4
    for address, outs in made:
        assert imap_opens_inbox(settings, address, outs["password"])


def test_providers_pickle_without_endpoints_or_keys(settings, encryption_key):
    # Nothing per object: endpoints and keys come from the configuration at run time.
    for provider in (MailboxProvider(), MailDomainProvider()):
        blob = pickle.dumps(provider)
        assert b"postgresql://" not in blob and encryption_key.encode() not in blob
        assert vars(provider) == {}


# --- mail domains -------------------------------------------------------------------------------

@pytest.fixture
def domain_provider(settings):
    provider = MailDomainProvider()
    provider.retry = FAST_RETRY
    return provider


def test_the_dkim_key_is_stored_encrypted_not_as_plain_pem(mail_domain, encryption_key):
    [row] = query("SELECT dkim_private_key FROM mail_domains WHERE name = %s", (mail_domain,))
    stored = row["dkim_private_key"]
    assert "PRIVATE KEY" not in stored and DKIM_KEY.strip().splitlines()[1] not in stored
    assert Fernet(encryption_key.encode()).decrypt(stored.encode()).decode().strip() == DKIM_KEY.strip()


def test_read_returns_the_dkim_key_and_a_changed_key_updates_in_place(domain_provider):
    domain = f"md-{secrets.token_hex(3)}.test"
    inputs = domain_provider.check({}, {"owner": OWNER, "domain": domain, "dkim_private_key": DKIM_KEY}).inputs
    created = domain_provider.create(inputs)
    try:
        assert domain_provider.read(domain, created.outs).outs["dkim_private_key"] == inputs["dkim_private_key"]
        news = domain_provider.check(created.outs, {"owner": OWNER, "domain": domain, "dkim_private_key": _pem()}).inputs
        diff = domain_provider.diff(domain, created.outs, news)
        assert diff.changes is True and diff.replaces == []
        updated = domain_provider.update(domain, created.outs, news)
        assert domain_provider.read(domain, updated.outs).outs["dkim_private_key"] == news["dkim_private_key"]
    finally:
        domain_provider.delete(domain, created.outs)


def test_a_dkim_key_that_cannot_be_decrypted_is_reported_as_drift(domain_provider):
    domain = f"md-{secrets.token_hex(3)}.test"
    inputs = domain_provider.check({}, {"owner": OWNER, "domain": domain, "dkim_private_key": DKIM_KEY}).inputs
    created = domain_provider.create(inputs)
    try:
        query("UPDATE mail_domains SET dkim_private_key = %s WHERE name = %s", (DKIM_KEY, domain))
        olds = domain_provider.read(domain, created.outs).outs
        assert olds.get("dkim_private_key") is None
        assert domain_provider.diff(domain, olds, inputs).changes is True
    finally:
        domain_provider.delete(domain, created.outs)


def test_deleting_a_mail_domain_removes_its_mailboxes_and_their_maildirs(settings, domain_provider):
    domain = f"md-{secrets.token_hex(3)}.test"
    created = domain_provider.create(domain_provider.check({}, {"owner": OWNER, "domain": domain}).inputs)
    boxes = MailboxProvider()
    boxes.retry = FAST_RETRY
    box = boxes.create(boxes.check({}, {"owner": OWNER, "address": f"info@{domain}", "quota_mb": 50}).inputs)
    assert imap_opens_inbox(settings, box.id, box.outs["password"])
    assert home_of(box.id).is_dir()

    domain_provider.delete(domain, created.outs)
    domain_provider.delete(domain, created.outs)

    assert not query("SELECT 1 FROM mailboxes WHERE domain = %s", (domain,))
    assert not home_of(box.id).parent.exists()
    assert not imap_opens_inbox(settings, box.id, box.outs["password"])


# --- ownership: the mark is the mail domain's owner ---------------------------------------------

def test_the_operators_own_mail_domain_without_a_mark_is_not_adopted_and_its_admin_still_logs_in(
        settings, domain_provider):
    domain = f"op-{secrets.token_hex(3)}.test"
    address, password = plant_foreign_mail(domain, None, "admin")
    before = mail_rows(domain)
    boxes = MailboxProvider(retry=FAST_RETRY)
    try:
        with pytest.raises(NotOurs) as caught:
            domain_provider.create(domain_provider.check({}, {"owner": OWNER, "domain": domain}).inputs)
        assert caught.value.code == "not_ours" and domain in caught.value.message
        with pytest.raises(NotOurs):
            boxes.create(boxes.check({}, {"owner": OWNER, "address": address, "quota_mb": 1024}).inputs)
        with pytest.raises(NotOurs):  # a new mailbox under it is refused too
            boxes.create(boxes.check({}, {"owner": OWNER, "address": f"new@{domain}", "quota_mb": 1024}).inputs)
        assert mail_rows(domain) == before
        assert imap_opens_inbox(settings, address, password)
    finally:
        remove_foreign_mail(domain)


def test_a_new_mail_domain_is_marked_with_its_stack(mail_domain):
    [row] = query("SELECT owner FROM mail_domains WHERE name = %s", (mail_domain,))
    assert row["owner"] == OWNER


def test_a_mail_domain_recorded_before_marks_existed_gets_its_mark_in_place(domain_provider):
    domain = f"md-{secrets.token_hex(3)}.test"
    inputs = domain_provider.check({}, {"owner": OWNER, "domain": domain}).inputs
    created = domain_provider.create(inputs)
    try:
        query("UPDATE mail_domains SET owner = NULL WHERE name = %s", (domain,))
        olds = domain_provider.read(domain, {k: v for k, v in created.outs.items() if k != "owner"}).outs
        assert olds["owner"] is None
        diff = domain_provider.diff(domain, olds, inputs)
        assert diff.changes is True and diff.replaces == []
        domain_provider.update(domain, olds, inputs)
        assert query("SELECT owner FROM mail_domains WHERE name = %s", (domain,)) == [{"owner": OWNER}]
    finally:
        domain_provider.delete(domain, created.outs)


# --- the mail host's maildirs, reached through MAILCORE_MAIL_ACCESS ------------------------------

def test_a_mailbox_removed_from_a_worker_that_is_not_the_mail_host_loses_its_mail_over_ssh(
        settings, mailboxes, tmp_path):
    """The worker reaches the mail host's disk over SSH (here the local sshd, as root with the
    sites' deploy key), never its own: the maildir goes on the mail host."""
    address, outs = mailboxes()
    assert imap_opens_inbox(settings, address, outs["password"])
    assert home_of(address).is_dir()
    reconfigure(MAILCORE_MAIL_ACCESS=f"ssh://root@{settings.SSH_ADDRESS}",
                MAILCORE_SSH_KEY_PATH=settings.SITES_SSH_KEY_PATH, SSH_KNOWN_HOSTS=str(tmp_path / "known_hosts"))
    try:
        mailboxes.provider.delete(address, outs)
    finally:
        restore_config()
    assert not home_of(address).exists()
    assert "ssh-ed25519" in (tmp_path / "known_hosts").read_text()  # the mail host's key, pinned once seen


def test_a_maildir_already_gone_is_said_in_the_log_not_ignored(settings, mailboxes, caplog):
    import shutil

    address, outs = mailboxes()
    assert imap_opens_inbox(settings, address, outs["password"])
    shutil.rmtree(home_of(address))  # removed by hand on the mail host
    with caplog.at_level("WARNING", logger="mpanel.mailcore"):
        mailboxes.provider.delete(address, outs)
    assert f"maildir {home_of(address)} on this machine was already gone" in caplog.text


def test_an_unreachable_mail_host_fails_the_deletion_for_a_retry(settings, mailboxes, tmp_path):
    address, outs = mailboxes()
    reconfigure(MAILCORE_MAIL_ACCESS="ssh://root@127.0.0.1:1", MAILCORE_SSH_KEY_PATH=settings.SITES_SSH_KEY_PATH,
                SSH_KNOWN_HOSTS=str(tmp_path / "known_hosts"))
    try:
        with pytest.raises(ProviderError) as caught:
            mailboxes.provider.delete(address, outs)
    finally:
        restore_config()
    assert caught.value.retryable and "root@127.0.0.1:1" in caught.value.message
    mailboxes.provider.delete(address, outs)  # the retry, once the mail host answers
