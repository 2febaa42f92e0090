"""The queries behind domain eligibility (app/services/orders/eligibility.py)."""
from __future__ import annotations

import psycopg

# The advisory-lock class of "a family of names" (one registrable domain and everything
# under it); the two-key form keeps it apart from every single-key lock (migrations, queue).
_FAMILY_LOCK_CLASS = 0x6D70  # "mp"


def lock_family(conn: psycopg.Connection, registrable: str) -> None:
    """Serialise, until the transaction ends, the orders of names sharing `registrable`, so
    that `victim.com` and `shop.victim.com` ordered at the same moment cannot both pass the
    above/below check (the unique index only sees equal names)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_FAMILY_LOCK_CLASS, registrable))


def hosted_near(conn: psycopg.Connection, name: str, above: list[str]) -> list[str]:
    """Names of live domains (not released, not claimed away by their owner) that are one of
    `above` (the names over `name`) or lie under `name`."""
    pattern = _like_escape(name[::-1]) + ".%"  # reverse('.' + name) is reverse(name) + '.'
    rows = conn.execute(
        "SELECT name FROM domains WHERE status <> 'released' AND control_claimed_at IS NULL "
        "AND (name = ANY(%s) OR reverse(name) LIKE %s)",
        (above, pattern)).fetchall()
    return sorted(row["name"] if isinstance(row, dict) else row[0] for row in rows)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
