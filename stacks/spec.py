"""A subscription's desired state, read from the database and nothing else.

`HostingSpec` is what the Pulumi program is a pure function of (architecture
decision 1): the program never reads the database, the environment or the clock.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from app.crypto import decrypt
from app.settings import Settings


class SpecError(RuntimeError):
    """The database cannot describe this subscription (unknown id, no server available)."""


@dataclass(frozen=True)
class MailboxSpec:
    local_part: str
    quota_mb: int
    password: str | None = field(default=None, repr=False)  # chosen by the customer, not yet set
    row_id: int | None = None          # mailboxes.id: a mailbox removed and added again is a new one
    password_token: bytes | None = field(default=None, repr=False)  # the ciphertext `password` came from


@dataclass(frozen=True)
class RecordSpec:
    name: str
    type: str
    content: str
    ttl: int


@dataclass(frozen=True)
class HostingSpec:
    subscription_id: int
    customer_email: str
    customer_name: str
    plan_slug: str
    whm_package: str
    disk_quota_mb: int
    mailbox_allowance: int
    domain: str
    domain_mode: str                  # new_registration | transfer | external
    server_id: int
    server_hostname: str
    server_ip: str
    whm_endpoint: str
    nameservers: tuple[str, ...]
    mail_host: str
    site_ssh_user: str                # empty: log in as the cPanel user
    site_home_root: str
    ssh_address: str
    suspended: bool = False
    terminated: bool = False
    converged_before: bool = False    # reached 'ready' once: worth refreshing before up
    cpanel_password_resets: int = 0   # each one the customer asks for sets a new cPanel password
    auth_code: str | None = field(default=None, repr=False)
    mailboxes: tuple[MailboxSpec, ...] = ()
    records: tuple[RecordSpec, ...] = ()

    @property
    def stack_name(self) -> str:
        return stack_name(self.subscription_id)


def stack_name(subscription_id: int) -> str:
    return f"sub-{subscription_id}"


# Billing states in which the account exists but is switched off, and in which it is gone.
SUSPENDED_STATES = {"suspended"}
TERMINATED_STATES = {"terminated"}

_SUBSCRIPTION = """
    SELECT s.id, s.status, s.server_id, s.activated_at, u.email, c.first_name, c.last_name,
           p.slug, p.whm_package, p.disk_quota_mb, p.mailbox_count, p.mailbox_quota_mb,
           d.id AS domain_id, d.name AS domain, d.mode AS domain_mode, d.auth_code_encrypted,
           coalesce(w.cpanel_password_resets, 0) AS cpanel_password_resets
      FROM subscriptions s
      JOIN customers c ON c.id = s.customer_id
      JOIN users u ON u.id = c.user_id
      JOIN plans p ON p.id = s.plan_id
      JOIN domains d ON d.subscription_id = s.id AND d.status <> 'released'
      LEFT JOIN websites w ON w.subscription_id = s.id
     WHERE s.id = %s
"""


def assign_server(conn: psycopg.Connection, subscription_id: int, default_server_id: int) -> int:
    """Pick an active web server with room, once; the choice is recorded and kept.

    Falls back to DEFAULT_WEB_SERVER_ID, as the seed says, when none has capacity.
    """
    row = conn.execute("SELECT server_id FROM subscriptions WHERE id = %s FOR UPDATE", (subscription_id,)).fetchone()
    if row is None:
        raise SpecError(f"subscription {subscription_id} does not exist")
    if row["server_id"] is not None:
        return row["server_id"]
    chosen = conn.execute(
        """SELECT sv.id FROM servers sv
            WHERE sv.role = 'web' AND sv.status = 'active'
              AND sv.capacity > (SELECT count(*) FROM subscriptions x
                                  WHERE x.server_id = sv.id AND x.status <> 'terminated')
            ORDER BY (SELECT count(*) FROM subscriptions x WHERE x.server_id = sv.id), sv.id
            LIMIT 1""").fetchone()
    server_id = chosen["id"] if chosen else default_server_id
    if not conn.execute("SELECT 1 FROM servers WHERE id = %s", (server_id,)).fetchone():
        raise SpecError(f"no active web server has capacity and DEFAULT_WEB_SERVER_ID={server_id} does not exist")
    conn.execute("UPDATE subscriptions SET server_id = %s, updated_at = now() WHERE id = %s",
                 (server_id, subscription_id))
    return server_id


def build_spec(conn: psycopg.Connection, subscription_id: int, settings: Settings) -> HostingSpec:
    """Read one subscription's desired state; `conn` must use dict rows."""
    server_id = assign_server(conn, subscription_id, settings.DEFAULT_WEB_SERVER_ID)
    row = conn.execute(_SUBSCRIPTION, (subscription_id,)).fetchone()
    if row is None:
        raise SpecError(f"subscription {subscription_id} has no live domain")
    server = conn.execute("SELECT * FROM servers WHERE id = %s", (server_id,)).fetchone()
    extra = conn.execute("SELECT id, local_part, quota_mb, password_encrypted FROM mailboxes "
                         "WHERE subscription_id = %s ORDER BY local_part", (subscription_id,)).fetchall()
    mailboxes = {"admin": MailboxSpec("admin", row["mailbox_quota_mb"])}
    for m in extra:
        token = bytes(m["password_encrypted"]) if m["password_encrypted"] else None
        mailboxes[m["local_part"]] = MailboxSpec(m["local_part"], m["quota_mb"],
                                                 decrypt(settings, token) if token else None, m["id"], token)
    records = conn.execute("SELECT name, type, content, ttl FROM dns_records WHERE domain_id = %s "
                           "ORDER BY name, type, content", (row["domain_id"],)).fetchall()
    auth = row["auth_code_encrypted"]
    return HostingSpec(
        subscription_id=subscription_id,
        customer_email=row["email"],
        customer_name=f"{row['first_name']} {row['last_name']}".strip(),
        plan_slug=row["slug"],
        whm_package=row["whm_package"],
        disk_quota_mb=row["disk_quota_mb"],
        mailbox_allowance=row["mailbox_count"],
        domain=row["domain"],
        domain_mode=row["domain_mode"],
        server_id=server_id,
        server_hostname=server["hostname"],
        server_ip=str(server["ip_address"]),
        whm_endpoint=server["whm_endpoint"],
        nameservers=(settings.NS1, settings.NS2),
        mail_host=settings.MAIL_SERVER_HOST or f"mail.{settings.NS1.split('.', 1)[-1]}",
        site_ssh_user=settings.SITES_SSH_USER,
        site_home_root=settings.SITES_HOME_ROOT,
        ssh_address=settings.SSH_ADDRESS or f"{server['ip_address']}:22",
        suspended=row["status"] in SUSPENDED_STATES,
        terminated=row["status"] in TERMINATED_STATES,
        converged_before=row["activated_at"] is not None,
        cpanel_password_resets=row["cpanel_password_resets"],
        auth_code=decrypt(settings, bytes(auth)) if auth else None,
        # Every recorded mailbox, even beyond a smaller plan's allowance: a downgrade must never
        # delete mail (the allowance is enforced when a mailbox is added: app/mailboxes.py).
        mailboxes=tuple(mailboxes.values()),
        records=tuple(RecordSpec(r["name"], r["type"], r["content"], r["ttl"]) for r in records),
    )
