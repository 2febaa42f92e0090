"""The operators' web servers: add, change, drain, enable, list (with how full each is), and the
WHM endpoints the providers are given for a run.

A server's WHM API token is kept encrypted (MPANEL_ENCRYPTION_KEY) and is opened only to build
the engine's provider configuration for a run (providers.core.config.ProviderConfig.WHM_SERVERS):
resources name a server by id, so no token is ever written to Pulumi state, and a rotated token
is used by the next run. A server row without an endpoint of its own (the seed's server 1) is the
one CPANEL_WHM_URL / CPANEL_WHM_API_TOKEN describe.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg

from app import db
from app.db.hosting import servers as rows
from app.services.common.crypto import decrypt, encrypt
from app.services.common.refusals import FieldRefused
from app.settings import Settings

STATES = ("active", "draining", "retired")
FILL_STRATEGIES = ("least_loaded", "fill_first")


class ServerRefused(FieldRefused, ValueError):
    """Bad input, naming the field; nothing was written."""


@dataclass(frozen=True)
class ServerInput:
    """What an operator gives for a server; None leaves a field as it is (update) or unset (add)."""

    name: str | None = None
    hostname: str | None = None
    ip_address: str | None = None
    whm_url: str | None = None
    whm_username: str | None = None
    whm_token: str | None = None
    ssh_address: str | None = None
    ssh_host_key: str | None = None
    home_root: str | None = None
    archive_dir: str | None = None
    capacity: int | None = None
    disk_capacity_mb: int | None = None
    drain_moves_per_hour: int | None = None
    server_group: str | None = None
    fill_strategy: str | None = None


def _checked(settings: Settings, given: ServerInput) -> dict:
    values: dict = {}
    if given.name is not None:
        if not given.name.strip() or len(given.name) > 63:
            raise ServerRefused("name", "must be 1 to 63 characters")
        values["name"] = given.name.strip()
    if given.hostname is not None:
        host = given.hostname.strip().lower().rstrip(".")
        if not host or len(host) > 253 or any(not part or len(part) > 63 for part in host.split(".")):
            raise ServerRefused("hostname", "must be a host name such as web2.example.com")
        values["hostname"] = host
    if given.ip_address is not None:
        try:
            values["ip_address"] = str(ipaddress.ip_address(given.ip_address.strip()))
        except ValueError:
            raise ServerRefused("ip_address", "must be an IPv4 or IPv6 address") from None
    if given.whm_url is not None:
        url = urlsplit(given.whm_url.strip())
        if url.scheme not in ("http", "https") or not url.hostname or url.username or url.password:
            raise ServerRefused("whm_url", "must be http(s)://host:port without credentials, e.g. "
                                           "https://web2.example.com:2087")
        values["whm_url"] = given.whm_url.strip().rstrip("/")
    if given.whm_username is not None:
        values["whm_username"] = given.whm_username.strip() or "root"
    if given.whm_token is not None:
        if not given.whm_token.strip():
            raise ServerRefused("whm_token", "must not be empty")
        values["whm_token_encrypted"] = encrypt(settings, given.whm_token.strip())
    if given.ssh_address is not None:
        host, _, port = given.ssh_address.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ServerRefused("ssh_address", "must be host:port, e.g. 192.0.2.20:22")
        values["ssh_address"] = given.ssh_address.strip()
    if given.ssh_host_key is not None:
        parts = given.ssh_host_key.split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
            raise ServerRefused("ssh_host_key", "must be a public key line such as 'ssh-ed25519 AAAA...'")
        values["ssh_host_key"] = " ".join(parts[:2])
    if given.home_root is not None:
        if not given.home_root.startswith("/"):
            raise ServerRefused("home_root", "must be an absolute path such as /home")
        values["home_root"] = given.home_root.rstrip("/") or "/"
    if given.archive_dir is not None:
        if not given.archive_dir.startswith("/"):
            raise ServerRefused("archive_dir", "must be an absolute path such as /home")
        values["archive_dir"] = given.archive_dir.rstrip("/") or "/"
    for field in ("capacity", "disk_capacity_mb", "drain_moves_per_hour"):
        number = getattr(given, field)
        if number is not None:
            if number < (0 if field == "capacity" else 1):
                raise ServerRefused(field, "must be a positive number")
            values[field] = number
    if given.server_group is not None:
        group = given.server_group.strip().lower()
        if not group or len(group) > 63 or not all(c.isalnum() or c in "_-" for c in group):
            raise ServerRefused("server_group", "must be letters, digits, '-' and '_'")
        values["server_group"] = group
    if given.fill_strategy is not None and given.fill_strategy not in FILL_STRATEGIES:
        raise ServerRefused("fill_strategy", f"must be one of {', '.join(FILL_STRATEGIES)}")
    return values


def add_server(settings: Settings, given: ServerInput) -> int:
    """Register a web server (active at once). Its own WHM endpoint needs its token and its SSH
    host key (publishing pins it); the name defaults to the host name."""
    for field in ("hostname", "ip_address", "whm_url", "whm_token", "ssh_host_key"):
        if getattr(given, field) in (None, ""):
            raise ServerRefused(field, "is required")
    values = _checked(settings, given)
    values.setdefault("name", values["hostname"])
    values.setdefault("server_group", "default")
    with db.transaction(settings.DATABASE_URL) as conn:
        _refuse_taken(conn, values)
        rows.ensure_group(conn, values["server_group"], given.fill_strategy)
        return rows.add(conn, values)


def update_server(settings: Settings, ref: str, given: ServerInput) -> int:
    values = _checked(settings, given)
    with db.transaction(settings.DATABASE_URL) as conn:
        server = _find(conn, ref)
        if ("whm_url" in values) != ("whm_token_encrypted" in values) and server["whm_url"] is None:
            raise ServerRefused("whm_token" if "whm_url" in values else "whm_url",
                                "a server's own WHM endpoint needs both its URL and its token")
        _refuse_taken(conn, values, server["id"])
        if "server_group" in values or given.fill_strategy:
            rows.ensure_group(conn, values.get("server_group") or server["server_group"], given.fill_strategy)
        rows.update(conn, server["id"], values)
        return server["id"]


def set_state(settings: Settings, ref: str, state: str, drain_moves_per_hour: int | None = None) -> int:
    """drain: no new accounts (those on it stay, and keep being converged; with a pace, that many
    are moved away each hour); enable: active again; retire: the end of its life, refused while
    accounts remain on it. The pace and the state change together or not at all."""
    if state not in STATES:
        raise ServerRefused("state", f"must be one of {', '.join(STATES)}")
    pace = _checked(settings, ServerInput(drain_moves_per_hour=drain_moves_per_hour))
    with db.transaction(settings.DATABASE_URL) as conn:
        server = _find(conn, ref)
        if pace:
            rows.update(conn, server["id"], pace)
        if state == "retired":
            [loaded] = rows.with_load(conn, server["id"])
            if loaded["accounts"]:
                raise ServerRefused("state", f"{server['name']} still holds {loaded['accounts']} accounts: "
                                             "move them first")
        rows.set_status(conn, server["id"], state)
        return server["id"]


def list_servers(settings: Settings) -> list[dict]:
    """Every web server with its load; never its token."""
    with db.transaction(settings.DATABASE_URL) as conn:
        found = rows.with_load(conn)
    return [{k: v for k, v in s.items() if k != "whm_token_encrypted"} for s in found]


def whm_endpoints(conn: psycopg.Connection, settings: Settings) -> dict[str, dict]:
    """servers.id -> the WHM URL, user and token the providers use for it (tokens decrypted here)."""
    return {str(r["id"]): {"url": r["whm_url"], "username": r["whm_username"] or "root",
                           "token": decrypt(settings, bytes(r["whm_token_encrypted"]))}
            for r in rows.own_endpoints(conn)}


def find(conn: psycopg.Connection, ref: str) -> dict:
    """The server by id or name (ServerRefused when there is none)."""
    return _find(conn, ref)


def _find(conn: psycopg.Connection, ref: str) -> dict:
    server = rows.by_id(conn, int(ref)) if str(ref).isdigit() else rows.by_name(conn, str(ref))
    if server is None:
        raise ServerRefused("server", f"no web server {ref}")
    return server


def _refuse_taken(conn: psycopg.Connection, values: dict, server_id: int | None = None) -> None:
    for field in ("name", "hostname"):
        if field in values:
            other = rows.by_name(conn, values[field])
            if other is not None and other["id"] != server_id:
                raise ServerRefused(field, f"{values[field]} is already the server {other['name']}")
