"""Stripe events as received: each id kept once, processed once."""
from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb


def record(conn: psycopg.Connection, event: dict) -> dict:
    """Keep the event (a repeat delivery changes nothing). Returns `inserted` (first delivery)
    and `processed_at` (None while it still needs processing)."""
    return conn.execute(
        """INSERT INTO stripe_events (id, type, created, payload) VALUES (%s, %s, to_timestamp(%s), %s)
           ON CONFLICT (id) DO UPDATE SET received_at = stripe_events.received_at
           RETURNING processed_at, (xmax = 0) AS inserted""",
        (event["id"], event["type"], event.get("created") or 0, Jsonb(event))).fetchone()


def lock_unprocessed(conn: psycopg.Connection, event_id: str) -> dict | None:
    """The event's type and payload, locked, or None when it is unknown or already processed."""
    return conn.execute("SELECT type, payload FROM stripe_events WHERE id = %s AND processed_at IS NULL "
                        "FOR UPDATE", (event_id,)).fetchone()


def mark_processed(conn: psycopg.Connection, event_id: str) -> None:
    conn.execute("UPDATE stripe_events SET processed_at = now() WHERE id = %s", (event_id,))
