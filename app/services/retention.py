"""Retention: finished jobs, engine events and processed Stripe events are kept for
MPANEL_RETENTION_DAYS, then removed by the daily `remove_old_records` task. The audit
trail of runs (provisioning_runs, with their outcome, summary and error) is kept.

Each stack's Pulumi history (a full checkpoint copy per update, the nightly drift check's
included) is kept to its last MPANEL_HISTORY_KEEP updates plus every update of the last
MPANEL_HISTORY_DAYS days by the daily `prune_stack_history` task (stacks/history.py).
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Callable

import psycopg

from app import db
from app.db import retention as rows
from app.settings import Settings
from stacks import history
from stacks.engine import PROJECT

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


def prune_stack_history(settings: Settings) -> dict[str, int]:
    """Remove each stack's history/checkpoint pairs beyond the policy, MPANEL_RETENTION_BATCH
    pairs per statement (each its own transaction); return how many stacks and pairs."""
    if not settings.PULUMI_BACKEND_URL.startswith("postgres"):
        return {"stacks": 0, "updates": 0}
    backend = history.Backend.from_url(settings.PULUMI_BACKEND_URL)
    cutoff = int((time.time() - settings.MPANEL_HISTORY_DAYS * 86400) * 1e9)
    batch = max(1, settings.MPANEL_RETENTION_BATCH)
    pruned, removed, old = 0, 0, []
    with backend.connect() as conn:
        for stack in history.stacks(conn, backend, PROJECT):
            beyond = history.beyond_policy(history.updates(conn, backend, PROJECT, stack),
                                           settings.MPANEL_HISTORY_KEEP, cutoff)
            pruned += bool(beyond)
            old += beyond
            while len(old) >= batch:
                history.remove_pairs(conn, backend, old[:batch])
                removed, old = removed + len(old[:batch]), old[batch:]
        for chunk in history.in_batches(old, batch):
            history.remove_pairs(conn, backend, chunk)
            removed += len(chunk)
    result = {"stacks": pruned, "updates": removed}
    log.info("stack history (last %s updates, %s days): %s", settings.MPANEL_HISTORY_KEEP,
             settings.MPANEL_HISTORY_DAYS, result)
    return result
