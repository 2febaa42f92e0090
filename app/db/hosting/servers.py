"""The web servers: their rows, how full each is, and the locked view placement decides on."""
from __future__ import annotations

import psycopg

# What occupies a server: every subscription placed on it that still has an account there.
# A terminated one's account is gone; an abandoned or unpaid one was never placed.
_OCCUPYING = "x.server_id = sv.id AND x.status NOT IN ('terminated', 'abandoned', 'pending_payment')"

_LOAD = f"""
    SELECT sv.*, coalesce(sv.name, sv.hostname) AS name, g.fill_strategy,
           (SELECT count(*) FROM subscriptions x WHERE {_OCCUPYING})
             -- an account being moved here holds its place from the request on
             + (SELECT count(*) FROM account_moves m WHERE m.to_server_id = sv.id
                  AND m.state IN ('requested', 'copied')) AS accounts,
           (SELECT coalesce(sum(p.disk_quota_mb), 0) FROM subscriptions x JOIN plans p ON p.id = x.plan_id
             WHERE {_OCCUPYING}) AS disk_used_mb
      FROM servers sv JOIN server_groups g ON g.name = sv.server_group
"""

EDITABLE = ("name", "hostname", "ip_address", "whm_url", "whm_username", "whm_token_encrypted", "ssh_address",
            "ssh_host_key", "home_root", "archive_dir", "capacity", "disk_capacity_mb", "server_group",
            "drain_moves_per_hour")


def ensure_group(conn: psycopg.Connection, name: str, fill_strategy: str | None = None) -> None:
    """The group exists (created with `fill_strategy`, or changed to it when given)."""
    if fill_strategy is None:
        conn.execute("INSERT INTO server_groups (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (name,))
    else:
        conn.execute("INSERT INTO server_groups (name, fill_strategy) VALUES (%s, %s) "
                     "ON CONFLICT (name) DO UPDATE SET fill_strategy = excluded.fill_strategy", (name, fill_strategy))


def add(conn: psycopg.Connection, values: dict) -> int:
    columns = [c for c in EDITABLE if values.get(c) is not None]
    row = conn.execute(
        f"INSERT INTO servers (role, whm_endpoint, {', '.join(columns)}) "
        f"VALUES ('web', 'own', {', '.join(['%s'] * len(columns))}) RETURNING id",
        [values[c] for c in columns]).fetchone()
    return row["id"]


def update(conn: psycopg.Connection, server_id: int, changes: dict) -> bool:
    columns = [c for c in EDITABLE if c in changes]
    if not columns:
        return by_id(conn, server_id) is not None
    assignments = ", ".join(f"{c} = %s" for c in columns)
    done = conn.execute(f"UPDATE servers SET {assignments}, updated_at = now() WHERE id = %s RETURNING id",
                        [changes[c] for c in columns] + [server_id]).fetchone()
    return done is not None


def set_status(conn: psycopg.Connection, server_id: int, status: str) -> bool:
    return conn.execute("UPDATE servers SET status = %s, updated_at = now() WHERE id = %s RETURNING id",
                        (status, server_id)).fetchone() is not None


def by_id(conn: psycopg.Connection, server_id: int) -> dict | None:
    return conn.execute("SELECT * FROM servers WHERE id = %s", (server_id,)).fetchone()


def by_name(conn: psycopg.Connection, name: str) -> dict | None:
    return conn.execute("SELECT * FROM servers WHERE name = %s OR hostname = %s ORDER BY name = %s DESC LIMIT 1",
                        (name, name, name)).fetchone()


def with_load(conn: psycopg.Connection, server_id: int | None = None) -> list[dict]:
    if server_id is None:
        return conn.execute(_LOAD + " WHERE sv.role = 'web' ORDER BY sv.server_group, sv.id").fetchall()
    return conn.execute(_LOAD + " WHERE sv.id = %s", (server_id,)).fetchall()


def own_endpoints(conn: psycopg.Connection) -> list[dict]:
    """The servers that have a WHM endpoint of their own (the others use CPANEL_WHM_*)."""
    return conn.execute("SELECT id, whm_url, whm_username, whm_token_encrypted FROM servers "
                        "WHERE whm_url IS NOT NULL ORDER BY id").fetchall()


# --- placement -----------------------------------------------------------------------------------

def order_needs(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    """The plan's server group and disk quota, and whether the order is already waiting."""
    return conn.execute(
        "SELECT p.server_group, p.disk_quota_mb, s.waiting_for_capacity_since FROM subscriptions s "
        "JOIN plans p ON p.id = s.plan_id WHERE s.id = %s", (subscription_id,)).fetchone()


def lock_group(conn: psycopg.Connection, group: str) -> list[dict]:
    """Every web server of the group, rows locked (FOR UPDATE) until the caller's transaction
    ends: placements into one group happen one at a time, so two checkouts can never both take
    a server's last place. Loads are read after the lock, by a statement that sees what the
    placement before this one committed."""
    locked = conn.execute("SELECT id FROM servers WHERE server_group = %s AND role = 'web' ORDER BY id FOR UPDATE",
                          (group,)).fetchall()
    if not locked:
        return []
    return conn.execute(_LOAD + " WHERE sv.id = ANY(%s) ORDER BY sv.id", ([r["id"] for r in locked],)).fetchall()


def mark_waiting(conn: psycopg.Connection, subscription_id: int, reason: str) -> bool:
    """The order waits for room, shown like a failure an operator must look at; True the first
    time (the operators are told once per wait)."""
    row = conn.execute(
        """UPDATE subscriptions s SET waiting_for_capacity_since = coalesce(s.waiting_for_capacity_since, now()),
                  needs_attention_since = coalesce(s.needs_attention_since, now()),
                  provisioning_error = %s, updated_at = now()
             FROM subscriptions before WHERE s.id = %s AND before.id = s.id
         RETURNING before.waiting_for_capacity_since IS NULL AS first""", (reason, subscription_id)).fetchone()
    return bool(row and row["first"])


def clear_waiting(conn: psycopg.Connection, subscription_id: int) -> None:
    conn.execute("UPDATE subscriptions SET waiting_for_capacity_since = NULL, provisioning_error = NULL, "
                 "updated_at = now() WHERE id = %s AND waiting_for_capacity_since IS NOT NULL", (subscription_id,))


def waiting(conn: psycopg.Connection) -> list[int]:
    return [r["id"] for r in conn.execute(
        "SELECT id FROM subscriptions WHERE waiting_for_capacity_since IS NOT NULL AND server_id IS NULL "
        "AND status NOT IN ('terminated', 'abandoned', 'pending_payment') ORDER BY waiting_for_capacity_since, id")]


def draining_with_pace(conn: psycopg.Connection) -> list[dict]:
    return conn.execute("SELECT * FROM servers WHERE status = 'draining' AND drain_moves_per_hour IS NOT NULL "
                        "ORDER BY id").fetchall()


def accounts_to_move(conn: psycopg.Connection, server_id: int, limit: int) -> list[dict]:
    """Accounts on the server with no move open, oldest first, with their plan's group and quota."""
    return conn.execute(
        """SELECT s.id, p.server_group, p.disk_quota_mb FROM subscriptions s
             JOIN plans p ON p.id = s.plan_id JOIN websites w ON w.subscription_id = s.id
            WHERE s.server_id = %s AND s.status NOT IN ('terminated', 'abandoned', 'pending_payment')
              AND w.cpanel_username IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM account_moves m WHERE m.subscription_id = s.id
                                AND m.state NOT IN ('done', 'failed'))
            ORDER BY s.id LIMIT %s""", (server_id, limit)).fetchall()


def moves_requested_since(conn: psycopg.Connection, server_id: int, minutes: int) -> int:
    return conn.execute("SELECT count(*) AS n FROM account_moves WHERE from_server_id = %s "
                        "AND requested_at > now() - make_interval(mins => %s)", (server_id, minutes)).fetchone()["n"]
