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


def record_new(conn: psycopg.Connection, event: dict, processing) -> bool:
    """Keep a first delivery and ask for its processing (`processing`: an app.jobs.defer.JobRequest)
    in one statement, one round trip. False, with nothing changed, when the id is known already:
    the caller decides with `record`. A job already waiting under the request's queueing lock
    fails the whole statement (UniqueViolation), leaving nothing recorded either."""
    return conn.execute(
        f"""WITH first_delivery AS (
                INSERT INTO stripe_events (id, type, created, payload) VALUES (%s, %s, to_timestamp(%s), %s)
                ON CONFLICT (id) DO NOTHING RETURNING id)
            SELECT {processing.sql} FROM first_delivery""",
        (event["id"], event["type"], event.get("created") or 0, Jsonb(event), *processing.params)).fetchone() is not None


def unprocessed(conn: psycopg.Connection, event_id: str) -> dict | None:
    """The event's type and payload (not locked: read before asking Stripe), or None when it is
    unknown or already processed."""
    return conn.execute("SELECT type, payload FROM stripe_events WHERE id = %s AND processed_at IS NULL",
                        (event_id,)).fetchone()


def lock_unprocessed(conn: psycopg.Connection, event_id: str) -> dict | None:
    """The event's type and payload, locked, or None when it is unknown or already processed."""
    return conn.execute("SELECT type, payload FROM stripe_events WHERE id = %s AND processed_at IS NULL "
                        "FOR UPDATE", (event_id,)).fetchone()


def mark_processed(conn: psycopg.Connection, event_id: str) -> None:
    conn.execute("UPDATE stripe_events SET processed_at = now() WHERE id = %s", (event_id,))


def record_anomalies(conn: psycopg.Connection, event_id: str, event_type: str, anomalies) -> None:
    """Keep what an event claimed that our records do not support (app.services.orders.lifecycle_rules.BillingAnomaly),
    once per event and kind, for a person to look at."""
    for a in anomalies:
        conn.execute(
            """INSERT INTO billing_anomalies (stripe_event_id, event_type, kind, stripe_object_id, subscription_id,
                                              detail)
               VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (stripe_event_id, kind, subscription_id) DO NOTHING""",
            (event_id, event_type, a.kind, a.stripe_object_id, a.subscription_id, a.detail))


def open_anomalies(conn: psycopg.Connection, subscription_id: int | None = None) -> list[dict]:
    """Billing anomalies nobody has resolved yet, newest first (of one order, or all)."""
    return conn.execute(
        "SELECT * FROM billing_anomalies WHERE resolved_at IS NULL "
        "AND (%(sid)s::bigint IS NULL OR subscription_id = %(sid)s) ORDER BY id DESC",
        {"sid": subscription_id}).fetchall()


def anomalies(conn: psycopg.Connection, *, include_resolved: bool = False,
              subscription_id: int | None = None) -> list[dict]:
    """Billing anomalies, oldest first (what `mpanel billing anomalies` lists): the open ones, or all."""
    return conn.execute(
        "SELECT * FROM billing_anomalies WHERE (%(all)s OR resolved_at IS NULL) "
        "AND (%(sid)s::bigint IS NULL OR subscription_id = %(sid)s) ORDER BY id",
        {"all": include_resolved, "sid": subscription_id}).fetchall()
