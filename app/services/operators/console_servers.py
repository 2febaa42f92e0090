"""The web servers from the console: list, add, change capacity, drain (with a pace), enable,
retire and move an account. Each goes through the same service as `mpanel servers` (hosting's
servers and moves), is role-checked here (the view checks too: admin and owner only) and is
written to the audit log with its outcome, refusals included."""
from __future__ import annotations

from typing import Callable

from app.services.hosting import servers
from app.services.hosting.moves import request_move
from app.services.hosting.placement import place_waiting_orders
from app.services.operators.staff import StaffSession, audit
from app.services.operators.staff_roles import NotAllowed, allowed
from app.settings import Settings

ACTION = "manage_servers"
STATE_OF = {"drain": "draining", "enable": "active", "retire": "retired"}


def servers_page(settings: Settings) -> list[dict]:
    """Every web server with accounts, allocated disk and state (never a token)."""
    return servers.list_servers(settings)


def _audited(settings: Settings, who: StaffSession, action: str, about: str, do: Callable[[], str], *,
             subscription_id: int | None = None, address: str | None = None) -> str:
    """Run `do` (it returns what the operator is told) if the role allows; audit either way."""
    if not allowed(who.role, ACTION):
        refusal = NotAllowed(who.role, ACTION)
        audit(settings, who, action, subscription_id, "refused", f"{about}: {refusal}"[:500], address)
        raise refusal
    try:
        notice = do()
    except servers.ServerRefused as exc:
        audit(settings, who, action, subscription_id, "refused", f"{about}: {exc}"[:500], address)
        raise
    audit(settings, who, action, subscription_id, "ok", notice[:500], address)
    return notice


def _and_place_waiting(settings: Settings, said: str) -> str:
    """Room may have appeared: orders waiting for it are placed now, as the command line does."""
    placed = place_waiting_orders(settings)
    return f"{said} {placed} orders waiting for capacity placed." if placed else said


def add(settings: Settings, who: StaffSession, given: servers.ServerInput, address: str | None = None) -> str:
    def do() -> str:
        server_id = servers.add_server(settings, given)
        return _and_place_waiting(settings, f"Server {given.name or given.hostname} added (id {server_id}).")
    # The token is never part of what is audited or said back.
    return _audited(settings, who, "server_add", f"{given.name or given.hostname} at {given.whm_url}", do,
                    address=address)


def change_capacity(settings: Settings, who: StaffSession, ref: str, capacity: int | None,
                    disk_capacity_mb: int | None, address: str | None = None) -> str:
    def do() -> str:
        servers.update_server(settings, ref, servers.ServerInput(capacity=capacity, disk_capacity_mb=disk_capacity_mb))
        disk = f", disk {disk_capacity_mb} MB" if disk_capacity_mb is not None else ""
        return _and_place_waiting(settings, f"Server {ref}: capacity {capacity} accounts{disk}.")
    return _audited(settings, who, "server_capacity", f"server {ref}", do, address=address)


def change_state(settings: Settings, who: StaffSession, ref: str, verb: str, pace: int | None = None,
                 address: str | None = None) -> str:
    """drain (optionally moving `pace` accounts away per hour), enable or retire."""
    if verb not in STATE_OF:
        raise servers.ServerRefused("state", f"must be one of {', '.join(STATE_OF)}")

    def do() -> str:
        servers.set_state(settings, ref, STATE_OF[verb], pace if verb == "drain" else None)
        said = f"Server {ref}: {STATE_OF[verb]}" + (f", moving {pace} accounts away per hour." if pace and verb == "drain"
                                                   else ".")
        return _and_place_waiting(settings, said) if verb == "enable" else said
    return _audited(settings, who, f"server_{verb}", f"server {ref}", do, address=address)


def move_account(settings: Settings, who: StaffSession, subscription_id: int, to_ref: str,
                 address: str | None = None) -> str:
    def do() -> str:
        move_id = request_move(settings, subscription_id, to_ref)
        return (f"Move {move_id} of subscription {subscription_id} to {to_ref} requested: the worker copies the "
                "account, switches it, then removes the source.")
    return _audited(settings, who, "account_move", f"to {to_ref}", do, subscription_id=subscription_id,
                    address=address)
