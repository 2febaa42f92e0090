"""Database access: one connection pool per process and the migration runner.

Migrations are plain SQL files in app/db/migrations, applied in name order, each in
its own transaction, recorded in schema_migrations; an advisory lock makes two
concurrent `mpanel db upgrade` runs safe, and re-running is a no-op. The job
queue's own schema (procrastinate) is applied by the same command.

The SQL lives in packages named after the service areas (app/services/__init__.py), each module
with the area that owns its table; `emails` (app/mail's ledger), `sweeps` and `retention` stand beside them.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x6D70616E656C  # "mpanel"

_pools: dict[str, ConnectionPool] = {}
# Connections handed out without the check (see `single_statements`), one pool per DSN.
_unchecked_pools: dict[str, ConnectionPool] = {}
_pools_lock = threading.Lock()


def pool(dsn: str) -> ConnectionPool:
    with _pools_lock:
        if dsn not in _pools:
            # `check`: a pooled connection the server dropped (a restart, pg_terminate_backend,
            # an idle timeout) is replaced when taken, not handed out to fail a request
            # (`mpanel chaos` saw webhooks answer 500 that way); it costs one empty round trip.
            _pools[dsn] = _new_pool(dsn, check=ConnectionPool.check_connection)
        return _pools[dsn]


def _unchecked_pool(dsn: str) -> ConnectionPool:
    with _pools_lock:
        if dsn not in _unchecked_pools:
            _unchecked_pools[dsn] = _new_pool(dsn, check=None)
        return _unchecked_pools[dsn]


def _new_pool(dsn: str, check) -> ConnectionPool:
    return ConnectionPool(dsn, min_size=1, max_size=10, open=True, kwargs={"row_factory": dict_row}, check=check)


def replace_dropped_connections() -> None:
    """Test every idle pooled connection of this process and replace the ones the server
    dropped: after a connection failed, so the next try is made on one that works."""
    with _pools_lock:
        pools = list(_pools.values()) + list(_unchecked_pools.values())
    for each in pools:
        each.check()


def close_pools() -> None:
    """Close and forget this process's pools: the next transaction opens a fresh one."""
    with _pools_lock:
        pools = list(_pools.values()) + list(_unchecked_pools.values())
        _pools.clear()
        _unchecked_pools.clear()
    for each in pools:
        each.close(timeout=5)


@contextmanager
def transaction(dsn: str) -> Iterator[psycopg.Connection]:
    """A connection inside one transaction: committed on success, rolled back on error."""
    with pool(dsn).connection() as conn:
        with conn.transaction():
            yield conn


@contextmanager
def single_statements(dsn: str) -> Iterator[psycopg.Connection]:
    """A connection in autocommit: each statement is its own transaction, sent without the BEGIN
    and COMMIT round trips of `transaction`, and taken from the pool unchecked (no empty round
    trip first). For work that one statement does whole and that is tried again when its
    connection turns out dropped (app/web/dropped_connections.py: the Stripe webhook, whose
    answer waits for every round trip it makes)."""
    with _unchecked_pool(dsn).connection() as conn:
        conn.autocommit = True
        try:
            yield conn
        finally:
            if not conn.broken:  # a broken one is discarded by the pool anyway
                conn.autocommit = False


def steps() -> list[str]:
    """Every migration this release has, in the order they apply (the queue's schema last)."""
    return [p.name for p in sorted(MIGRATIONS.glob("*.sql"))] + ["queue:procrastinate"]


def applied_migrations(conn: psycopg.Connection) -> dict[str, object]:
    """Name -> when, for every migration recorded in this database (empty in a new one).
    `conn` returns plain tuples (psycopg.connect's default)."""
    if not conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]:
        return {}
    return dict(conn.execute("SELECT name, applied_at FROM schema_migrations ORDER BY applied_at, name").fetchall())


def status(dsn: str) -> tuple[dict[str, object], list[str], list[str]]:
    """(applied: name -> when, pending: this release's not yet applied, unknown: applied here but
    not in this release: a newer release migrated this database)."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        applied = applied_migrations(conn)
    wanted = steps()
    return applied, [n for n in wanted if n not in applied], [n for n in applied if n not in wanted]


def upgrade(dsn: str) -> list[str]:
    """Apply pending migrations; return the names applied (empty when up to date)."""
    from procrastinate.schema import SchemaManager

    applied: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            steps = [(p.name, p.read_text()) for p in sorted(MIGRATIONS.glob("*.sql"))]
            steps.append(("queue:procrastinate", SchemaManager.get_schema()))
            for name, sql in steps:
                if name in done:
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied
