"""A subscription's spec from the database: place it on a server (once), then read its rows."""
from __future__ import annotations

from pathlib import Path

import psycopg

from app.db.hosting import specs as rows
from app.services.common.crypto import decrypt
from app.services.hosting import placement
from app.settings import Settings
from providers.rules.dns_records import publishable_records
from stacks.spec import HostingSpec, SpecDefaults, SpecError, spec_from_rows


def assign_server(conn: psycopg.Connection, subscription_id: int, default_server_id: int) -> int:
    """The subscription's web server, placed once by app/services/hosting/placement.py and kept."""
    try:
        server_id = placement.place(conn, subscription_id, default_server_id)
    except LookupError as exc:
        raise SpecError(str(exc)) from None
    if server_id is None:
        raise placement.WaitingForCapacity(f"subscription {subscription_id} is waiting for capacity")
    if rows.server(conn, server_id) is None:
        raise SpecError(f"no web server is registered for its group and DEFAULT_WEB_SERVER_ID={server_id} "
                        "does not exist")
    return server_id


def _file_text(path: str) -> str:
    return Path(path).read_text() if path and Path(path).is_file() else ""


def spec_defaults(settings: Settings) -> SpecDefaults:
    return SpecDefaults(
        nameservers=(settings.NS1, settings.NS2),
        mail_host=settings.MAIL_SERVER_HOST or f"mail.{settings.NS1.split('.', 1)[-1]}",
        site_ssh_user=settings.SITES_SSH_USER,
        site_home_root=settings.SITES_HOME_ROOT,
        ssh_address=settings.SSH_ADDRESS,
        ssh_host_key=_file_text(settings.SITES_SSH_HOST_KEY_FILE).strip(),
        ssh_private_key=_file_text(settings.SITES_SSH_KEY_PATH))


def build_spec(conn: psycopg.Connection, subscription_id: int, settings: Settings) -> HostingSpec:
    """Place the subscription, then read its desired state; `conn` must use dict rows."""
    server_id = assign_server(conn, subscription_id, settings.DEFAULT_WEB_SERVER_ID)
    subscription = rows.subscription(conn, subscription_id)
    if subscription is None:
        raise SpecError(f"subscription {subscription_id} has no live domain")
    return spec_from_rows(subscription, rows.server(conn, server_id), rows.mailboxes(conn, subscription_id),
                          publishable(conn, subscription["domain_id"]), spec_defaults(settings),
                          lambda token: decrypt(settings, token))


def publishable(conn: psycopg.Connection, domain_id: int) -> list[dict]:
    """The customer's records the zone takes, judged by the zone's own rule module: one it would
    refuse (stored before a rule was tightened, or written around the panel) is quarantined (left
    out, the reason kept for the panel and the console) so that it cannot stop the account,
    certificate, mailboxes and managed records from converging. Quarantine lifts when it passes."""
    stored = rows.records(conn, domain_id)
    taken, refused = publishable_records(stored)
    for record, reason in refused:
        if record["quarantined_reason"] != reason:
            rows.quarantine(conn, record["id"], reason)
    for record in taken:
        if record["quarantined_reason"] is not None:
            rows.quarantine(conn, record["id"], None)
    return taken
