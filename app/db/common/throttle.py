"""The login throttle's counters (SQL only): one row per (scope, key), read and written under
a row lock so that parallel guesses are counted one after another."""
from __future__ import annotations

import psycopg


def lock(conn: psycopg.Connection, scope: str, key: str) -> dict:
    """The counter, created when new, locked until the caller's transaction ends; with the
    database's `now` (every decision uses the database clock, the same for every app process)."""
    conn.execute("INSERT INTO login_throttle (scope, key) VALUES (%s, %s) ON CONFLICT DO NOTHING", (scope, key))
    return conn.execute(
        "SELECT failures, last_failure_at, next_allowed_at, last_success_at, now() AS now "
        "FROM login_throttle WHERE scope = %s AND key = %s FOR UPDATE", (scope, key)).fetchone()


def save(conn: psycopg.Connection, scope: str, key: str, *, failures: int, last_failure_at, next_allowed_at,
         last_success_at) -> None:
    conn.execute(
        "UPDATE login_throttle SET failures = %s, last_failure_at = %s, next_allowed_at = %s, "
        "last_success_at = %s WHERE scope = %s AND key = %s",
        (failures, last_failure_at, next_allowed_at, last_success_at, scope, key))


def forget_older_than(conn: psycopg.Connection, seconds: int) -> int:
    """Counters with no failure (and no success) for this long: nothing they hold still matters."""
    return conn.execute(
        "DELETE FROM login_throttle WHERE coalesce(greatest(last_failure_at, last_success_at), '-infinity') "
        "< now() - make_interval(secs => %s) AND next_allowed_at < now()", (seconds,)).rowcount
