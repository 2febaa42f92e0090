"""A pooled connection the server dropped is replaced when taken, not handed to a request
(mpanel chaos saw the Stripe webhook answer 500 after pg_terminate_backend)."""
from __future__ import annotations

import psycopg

from app import db


def test_a_transaction_after_the_server_dropped_every_pooled_connection_works(settings):
    pool = db.pool(settings.DATABASE_URL)
    with db.transaction(settings.DATABASE_URL) as conn:  # at least one connection now pooled
        conn.execute("SELECT 1")
    pool.wait(timeout=10)
    with psycopg.connect(settings.DATABASE_URL, autocommit=True) as other:
        # Every other session on the app's database: in this test process, the pool's.
        dropped = other.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'").fetchone()[0]
    assert dropped >= 1
    with db.transaction(settings.DATABASE_URL) as conn:
        assert conn.execute("SELECT 1 AS one").fetchone()["one"] == 1
