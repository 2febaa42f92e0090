"""Upgrades expand only (tests/unit/test_migrations_only_expand.py), so the previous release's
worker keeps working while `mpanel db upgrade` runs and until it is restarted on the new code: here
its own code, in a worktree of its commit, runs against the schema this release migrated and
processes one job."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from tests.factories import make_subscription

# The commit this release's work started from (the previous release a running worker still has).
PREVIOUS = "25cbbf13d98938ffbc280c493744c50bfa0e711a"


def test_the_previous_releases_worker_processes_a_job_on_the_new_schema(settings, db_conn, release_worktree):
    from app import db

    db.upgrade(settings.DATABASE_URL)
    subscription_id = make_subscription(db_conn, settings, status="pending_payment")
    tree = release_worktree(PREVIOUS)
    ran = subprocess.run([sys.executable, str(Path(__file__).with_name("old_worker.py")), str(subscription_id)],
                         env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True, timeout=300,
                         cwd=tree)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    said = json.loads(ran.stdout.strip().splitlines()[-1])
    assert said["upgraded"] == [], "the previous release found migrations of its own still to apply"
    with psycopg.connect(settings.DATABASE_URL) as conn:
        status = conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", (said["job_id"],)).fetchone()[0]
    assert status == "succeeded", ran.stderr[-3000:]
    assert isinstance(said["worker_id"], int)  # its heartbeat row was written into the new schema's workers table
