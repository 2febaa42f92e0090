"""Proof of control of a domain we did not register (app/services/domains/proof.py)."""
from __future__ import annotations

import psycopg

# A live order's domain that still waits for proof.
# A domain its real owner claimed (app/services/domains/claims.py) is never proven afterwards.
_UNPROVEN = """d.control_proven_at IS NULL AND d.mode <> 'new_registration' AND d.status <> 'released'
               AND d.control_claimed_at IS NULL
               AND s.status NOT IN ('abandoned', 'terminated')"""


def unproven(conn: psycopg.Connection, domain_id: int) -> dict | None:
    return conn.execute(f"SELECT d.id, d.name, d.control_token, d.subscription_id FROM domains d "
                        f"JOIN subscriptions s ON s.id = d.subscription_id WHERE d.id = %s AND {_UNPROVEN}",
                        (domain_id,)).fetchone()


def unproven_ids(conn: psycopg.Connection) -> list[int]:
    return [r["id"] for r in conn.execute(
        f"SELECT d.id FROM domains d JOIN subscriptions s ON s.id = d.subscription_id WHERE {_UNPROVEN} "
        "ORDER BY d.control_checked_at NULLS FIRST, d.id").fetchall()]


def unproven_of(conn: psycopg.Connection, subscription_id: int) -> int | None:
    row = conn.execute(f"SELECT d.id FROM domains d JOIN subscriptions s ON s.id = d.subscription_id "
                       f"WHERE d.subscription_id = %s AND {_UNPROVEN}", (subscription_id,)).fetchone()
    return row["id"] if row else None


def record_check(conn: psycopg.Connection, domain_id: int, found: str, proven_by: str | None) -> bool:
    """Keep what the check found; mark the domain proven (once). True when it became proven now."""
    row = conn.execute(
        "UPDATE domains SET control_checked_at = now(), control_check_result = %s, "
        "control_proven_at = CASE WHEN %s::text IS NOT NULL THEN coalesce(control_proven_at, now()) "
        "                    ELSE control_proven_at END, "
        "control_proven_by = coalesce(control_proven_by, %s) "
        "WHERE id = %s RETURNING (control_proven_at IS NOT NULL) AS proven",
        (found, proven_by, proven_by, domain_id)).fetchone()
    return bool(row and row["proven"] and proven_by)


def state_of(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    return conn.execute("SELECT name, mode, control_token, control_proven_at, control_proven_by, control_checked_at, "
                        "control_check_result, control_claimed_at FROM domains WHERE subscription_id = %s AND status <> 'released' "
                        "ORDER BY id DESC LIMIT 1", (subscription_id,)).fetchone()
