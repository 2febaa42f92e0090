"""Which web server a paid order's account goes on: decided once, atomically, when it is first
converged (activation, as hosting platforms do: an unpaid checkout takes no place on a server).

The plan names a server group; the order goes to an active server of that group with room for
one more account and for the plan's disk quota, chosen by the group's fill strategy:
- least_loaded: the server with the smallest share of its capacity in use (spreads the load);
- fill_first: the first server (by id) that still has room (fills one before opening the next).

The group's server rows are locked for the decision (app/db/hosting/servers.lock_group), so concurrent
placements into a group take turns and never overfill a server. An order no server has room for
waits ("waiting for capacity", flagged for the operators, who are emailed once); the placement
sweep places it as soon as a server has room (a server added, enabled or given more capacity).

DEFAULT_WEB_SERVER_ID (the seed's fallback "if no active servers found") is used only for a
group that has no web servers at all, i.e. an install that never registered any: there the
single server of CPANEL_WHM_* takes every order, as before.
"""
from __future__ import annotations

import logging

import psycopg

from app import db
from app.db.hosting import servers, specs as subscription_rows
from app.jobs.defer import request_attention_alert, request_converge
from app.settings import Settings
from stacks.spec import SpecError

log = logging.getLogger("mpanel.placement")


class WaitingForCapacity(SpecError):
    """No server of the order's group has room: nothing can be built for it yet."""


def has_room(server: dict, disk_quota_mb: int) -> bool:
    if server["status"] != "active" or server["accounts"] >= server["capacity"]:
        return False
    limit = server["disk_capacity_mb"]
    return limit is None or server["disk_used_mb"] + disk_quota_mb <= limit


def choose(candidates: list[dict], disk_quota_mb: int) -> dict | None:
    """The server the group's fill strategy picks among those with room (pure: tested alone)."""
    fitting = [s for s in candidates if has_room(s, disk_quota_mb)]
    if not fitting:
        return None
    if fitting[0]["fill_strategy"] == "fill_first":
        return min(fitting, key=lambda s: s["id"])
    return min(fitting, key=lambda s: (s["accounts"] / max(s["capacity"], 1), s["id"]))


def place(conn: psycopg.Connection, subscription_id: int, default_server_id: int) -> int | None:
    """The subscription's server: the one recorded, else one chosen now and recorded; None when
    no server of its group has room (the wait is recorded and the operators alerted, in `conn`'s
    transaction). Raises LookupError for a subscription that does not exist."""
    exists, server_id = subscription_rows.assigned_server(conn, subscription_id)  # row locked
    if not exists:
        raise LookupError(f"subscription {subscription_id} does not exist")
    if server_id is not None:
        return server_id
    needs = servers.order_needs(conn, subscription_id)
    group = needs["server_group"]
    candidates = servers.lock_group(conn, group)
    if not candidates:
        chosen_id = default_server_id
    else:
        chosen = choose(candidates, needs["disk_quota_mb"])
        if chosen is None:
            reason = (f"waiting for capacity: no active web server in the group '{group}' has room for another "
                      f"account of {needs['disk_quota_mb']} MB (add a server, enable one or raise a capacity)")
            if servers.mark_waiting(conn, subscription_id, reason):
                log.warning("subscription %s: %s", subscription_id, reason)
                request_attention_alert(conn, subscription_id)
            return None
        chosen_id = chosen["id"]
    subscription_rows.place(conn, subscription_id, chosen_id)
    servers.clear_waiting(conn, subscription_id)
    return chosen_id


def place_waiting_orders(settings: Settings) -> int:
    """The placement sweep: each order waiting for capacity is placed if a server has room now,
    and its converge requested; returns how many were placed. Oldest first, one transaction each."""
    with db.transaction(settings.DATABASE_URL) as conn:
        waiting = servers.waiting(conn)
    placed = 0
    for sid in waiting:
        with db.transaction(settings.DATABASE_URL) as conn:
            if place(conn, sid, settings.DEFAULT_WEB_SERVER_ID) is not None:
                request_converge(conn, sid)
                placed += 1
    if placed:
        log.info("placed %d of %d orders waiting for capacity", placed, len(waiting))
    return placed
