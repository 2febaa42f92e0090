"""Account moves between web servers: the requested change and how far it got."""
from __future__ import annotations

import psycopg


def request(conn: psycopg.Connection, subscription_id: int, from_server_id: int, to_server_id: int) -> int:
    return conn.execute("INSERT INTO account_moves (subscription_id, from_server_id, to_server_id) "
                        "VALUES (%s, %s, %s) RETURNING id", (subscription_id, from_server_id, to_server_id)
                        ).fetchone()["id"]


def open_move(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    return conn.execute("SELECT * FROM account_moves WHERE subscription_id = %s AND state NOT IN ('done', 'failed')",
                        (subscription_id,)).fetchone()


def latest(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    return conn.execute("SELECT * FROM account_moves WHERE subscription_id = %s ORDER BY id DESC LIMIT 1",
                        (subscription_id,)).fetchone()


def advance(conn: psycopg.Connection, move_id: int, state: str, error: str | None = None) -> None:
    conn.execute("UPDATE account_moves SET state = %s, error = %s, updated_at = now() WHERE id = %s",
                 (state, error, move_id))


def account(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    """The account being moved: its user name (recorded by a successful run) and its domain."""
    return conn.execute("SELECT s.status, s.server_id, w.cpanel_username, d.name AS domain FROM subscriptions s "
                        "LEFT JOIN websites w ON w.subscription_id = s.id "
                        "LEFT JOIN domains d ON d.subscription_id = s.id AND d.status <> 'released' "
                        "WHERE s.id = %s FOR UPDATE OF s", (subscription_id,)).fetchone()


def switch_server(conn: psycopg.Connection, subscription_id: int, server_id: int) -> None:
    conn.execute("UPDATE subscriptions SET server_id = %s, updated_at = now() WHERE id = %s",
                 (server_id, subscription_id))
