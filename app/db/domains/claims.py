"""Claims of a domain by its real owner (app/services/domains/claims.py)."""
from __future__ import annotations

import psycopg

# The live domain row that holds a name (an order's own, not released, not claimed away).
_HOLDER = """SELECT d.id, d.subscription_id, d.mode, d.control_proven_at FROM domains d
              WHERE d.name = %s AND d.status <> 'released' AND d.control_claimed_at IS NULL"""


def holder(conn: psycopg.Connection, name: str, *, lock: bool = False) -> dict | None:
    return conn.execute(_HOLDER + (" FOR UPDATE" if lock else ""), (name,)).fetchone()


def start(conn: psycopg.Connection, name: str) -> dict:
    return conn.execute("INSERT INTO domain_claims (name) VALUES (%s) RETURNING *", (name,)).fetchone()


def claim(conn: psycopg.Connection, claim_id: int) -> dict | None:
    return conn.execute("SELECT * FROM domain_claims WHERE id = %s", (claim_id,)).fetchone()


def record_check(conn: psycopg.Connection, claim_id: int, found: str, *, proven: bool,
                 domain_id: int | None = None) -> None:
    conn.execute("UPDATE domain_claims SET checked_at = now(), check_result = %s, "
                 "proven_at = CASE WHEN %s THEN coalesce(proven_at, now()) ELSE proven_at END, "
                 "domain_id = coalesce(domain_id, %s) WHERE id = %s", (found, proven, domain_id, claim_id))


def release(conn: psycopg.Connection, domain_id: int, reason: str) -> None:
    """The holding domain stops holding the name; its rows and its order stay as they are
    (its mail stays unroutable: it is never proven now)."""
    conn.execute("UPDATE domains SET control_claimed_at = now(), control_check_result = %s, updated_at = now() "
                 "WHERE id = %s AND control_claimed_at IS NULL", (reason, domain_id))
