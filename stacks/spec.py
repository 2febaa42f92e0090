"""A subscription's desired state: what the Pulumi program is a pure function of.

`HostingSpec` is built from database rows the caller read (architecture decision 1):
neither the program nor this module reads the database, the environment or the clock,
so both are tested with rows given in memory.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence


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
    ssh_host_key: str = ""            # the web server's public host key, pinned by remote commands
    ssh_private_key: str = field(default="", repr=False)  # the publishing login's key (a Pulumi secret)
    suspended: bool = False
    suspend_reason: str = "Billing: payment overdue"  # what WHM shows while the account is suspended
    terminated: bool = False
    converged_before: bool = False    # reached 'ready' once: worth refreshing before up
    cpanel_password_resets: int = 0   # each one the customer asks for sets a new cPanel password
    # The server's id as the WHM provider names it; None for the server of CPANEL_WHM_URL (the
    # single-server install, and every account made before servers had endpoints of their own).
    whm_server: str | None = None
    auth_code: str | None = field(default=None, repr=False)
    domain_auto_renew: bool = True    # the registration renews itself unless the customer turned it off
    domain_lock: bool | None = None   # the registrar lock the customer chose; None: left as the registrar has it
    mailboxes: tuple[MailboxSpec, ...] = ()
    records: tuple[RecordSpec, ...] = ()
    # Mail from other tenants and our own services is delivered locally only for a domain we
    # registered or whose control the customer proved; until then it is relayed out.
    mail_routable: bool = True
    # An account an operator imported (app/services/operators/imports.py): never given a starter
    # page or an admin@ mailbox it did not have; `take_over` until its first successful run,
    # so the resources read and mark what is there instead of creating (providers/core/resource.py).
    imported: bool = False
    take_over: bool = False

    @property
    def stack_name(self) -> str:
        return stack_name(self.subscription_id)


def stack_name(subscription_id: int) -> str:
    return f"sub-{subscription_id}"


# Billing states in which the account exists but is switched off (with the reason WHM shows),
# and in which it is gone. A canceled subscription's account is kept, suspended, until its
# retention ends (architecture decision 6): paying again switches it back on.
SUSPENDED_STATES = {"suspended": "Billing: payment overdue", "canceled": "Billing: subscription canceled"}
TERMINATED_STATES = {"terminated"}


@dataclass(frozen=True)
class SpecDefaults:
    """Operator-wide values every spec carries (from settings)."""

    nameservers: tuple[str, ...]
    mail_host: str
    site_ssh_user: str                # empty: log in as the cPanel user
    site_home_root: str
    ssh_address: str = ""             # empty: the assigned server's address, port 22
    ssh_host_key: str = ""            # used when the server row records none
    ssh_private_key: str = field(default="", repr=False)


Row = Mapping[str, Any]


def spec_from_rows(subscription: Row, server: Row, mailboxes: Sequence[Row], records: Sequence[Row],
                   defaults: SpecDefaults, decrypt: Callable[[bytes], str]) -> HostingSpec:
    """The spec of one subscription from its rows (see app/db/hosting/specs.py for the queries);
    `decrypt` opens what the database keeps encrypted (transfer auth code, chosen passwords)."""
    # A server with a WHM endpoint of its own is described by its row alone; the environment's
    # SSH_ADDRESS, host key file and home root describe the server of CPANEL_WHM_URL (the
    # single-server install), and must never be taken for another one.
    own = bool(server.get("whm_url"))
    if own:
        defaults = replace(defaults, ssh_address="", ssh_host_key="")
    if not (server.get("ssh_host_key") or defaults.ssh_host_key):
        # Publishing pins the server's host key; trusting whatever answers is not an option.
        raise SpecError(f"no SSH host key is known for server {server['id']} ({server['hostname']}): record it "
                        "in servers.ssh_host_key or set SITES_SSH_HOST_KEY_FILE")
    row = subscription
    imported = row.get("imported_at") is not None
    # admin@ is implied by every plan; an imported account has the mailboxes it came with.
    admin = {} if imported else {"admin": MailboxSpec("admin", row["mailbox_quota_mb"])}
    for m in mailboxes:
        token = bytes(m["password_encrypted"]) if m["password_encrypted"] else None
        admin[m["local_part"]] = MailboxSpec(m["local_part"], m["quota_mb"],
                                             decrypt(token) if token else None, m["id"], token)
    auth = row["auth_code_encrypted"]
    return HostingSpec(
        subscription_id=row["id"],
        customer_email=row["email"],
        customer_name=f"{row['first_name']} {row['last_name']}".strip(),
        plan_slug=row["slug"],
        whm_package=row["whm_package"],
        disk_quota_mb=row["disk_quota_mb"],
        mailbox_allowance=row["mailbox_count"],
        domain=row["domain"],
        domain_mode=row["domain_mode"],
        server_id=server["id"],
        server_hostname=server["hostname"],
        server_ip=str(server["ip_address"]),
        whm_endpoint=server["whm_endpoint"],
        whm_server=str(server["id"]) if own else None,
        nameservers=tuple(defaults.nameservers),
        mail_host=defaults.mail_host,
        site_ssh_user=defaults.site_ssh_user,
        site_home_root=server.get("home_root") or defaults.site_home_root,
        ssh_address=server.get("ssh_address") or defaults.ssh_address or f"{server['ip_address']}:22",
        ssh_host_key=(server.get("ssh_host_key") or defaults.ssh_host_key or "").strip(),
        ssh_private_key=defaults.ssh_private_key,
        suspended=row["status"] in SUSPENDED_STATES,
        # Who suspended and why (staff's typed reason) when recorded; otherwise the billing state's.
        suspend_reason=((row.get("suspend_reason") if row["status"] == "suspended" else None)
                        or SUSPENDED_STATES.get(row["status"], HostingSpec.suspend_reason)),
        terminated=row["status"] in TERMINATED_STATES,
        converged_before=row["activated_at"] is not None,
        cpanel_password_resets=row["cpanel_password_resets"],
        auth_code=decrypt(bytes(auth)) if auth else None,
        domain_auto_renew=row.get("domain_auto_renew") is not False,  # NULL (never chosen): on
        domain_lock=row.get("domain_lock"),
        # Every recorded mailbox, even beyond a smaller plan's allowance: a downgrade must never
        # delete mail (the allowance is enforced when a mailbox is added: app/services/hosting/mailboxes.py).
        mailboxes=tuple(admin.values()),
        records=tuple(RecordSpec(r["name"], r["type"], r["content"], r["ttl"]) for r in records),
        mail_routable=row.get("control_proven_at") is not None or row["domain_mode"] == "new_registration",
        imported=imported,
        take_over=imported and row["activated_at"] is None,
    )


# How a run goes, not what it makes: a spec differing only in these describes the same desired state.
_NOT_DESIRED_STATE = {"converged_before"}
# Fields added after digests were first stored: left out while at their default, so a stack's
# digest (and "nothing to do") survives the upgrade that added them.
_LATER_FIELDS = {"imported": False, "take_over": False}


def spec_digest(spec: HostingSpec) -> str:
    """sha256 over the spec's canonical JSON (sorted keys, bytes as hex), secrets included, so a
    new password or key changes it; the digest is stored, never what it was computed from."""
    def plain(value: Any) -> Any:
        if isinstance(value, bytes):
            return value.hex()
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    fields = {k: plain(v) for k, v in asdict(spec).items()
              if k not in _NOT_DESIRED_STATE and not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
