"""Retention: finished jobs, engine events and processed Stripe events are kept for
MPANEL_RETENTION_DAYS, then removed by the daily `remove_old_records` task. The audit
trail of runs (provisioning_runs, with their outcome, summary and error) is kept.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Callable

import psycopg

from app import db
from app.db import retention as rows
from app.settings import Settings

log = logging.getLogger("mpanel.retention")

# Stripe redelivers an event for up to 3 days: its id must be remembered at least that long
# for a late duplicate to be recognised as one.
STRIPE_REDELIVERY = timedelta(days=3)


def remove_old_records(settings: Settings) -> dict[str, int]:
    """Remove what is older than the retention period, batch by batch (one short transaction
    each); return how many rows of each kind went."""
    age = timedelta(days=settings.MPANEL_RETENTION_DAYS)
    batch = max(1, settings.MPANEL_RETENTION_BATCH)
    removed = {
        "jobs": _in_batches(settings.DATABASE_URL, rows.delete_finished_jobs, age, batch),
        "provisioning_events": _in_batches(settings.DATABASE_URL, rows.delete_provisioning_events, age, batch),
        "stripe_events": _in_batches(settings.DATABASE_URL, rows.delete_processed_stripe_events,
                                     max(age, STRIPE_REDELIVERY), batch),
    }
    log.info("retention (%s days): removed %s", settings.MPANEL_RETENTION_DAYS, removed)
    return removed


def _in_batches(dsn: str, delete: Callable[[psycopg.Connection, timedelta, int], int], age: timedelta,
                batch: int) -> int:
    total = 0
    while True:
        with db.transaction(dsn) as conn:
            deleted = delete(conn, age, batch)
        total += deleted
        if deleted < batch:
            return total
