"""The job queue: procrastinate in the application's PostgreSQL.

Job policy lives on the task decorators (app/jobs/tasks.py) and the defer calls
(app/jobs/defer.py):
- `lock=sub-<id>`: never two operations on one subscription's stack at once;
- `queueing_lock=sub-<id>`: at most one waiting converge per subscription, so a burst
  of webhooks collapses into one run (the run reads the latest desired state anyway);
- retries with exponential backoff for transient failures only.
"""
from __future__ import annotations

import functools

import procrastinate

from app import db
from app.jobs.defer import request_converge_in
from app.settings import Settings


@functools.cache
def settings() -> Settings:
    """The worker's settings, read once per process."""
    return Settings.from_env()


queue = procrastinate.App(
    connector=procrastinate.PsycopgConnector(conninfo=settings().DATABASE_URL, min_size=1, max_size=4),
    import_paths=["app.jobs.tasks"],
)


def request_converge(subscription_id: int) -> bool:
    """Ask the worker to look at this subscription again (for callers outside a transaction of
    their own: operators' commands); False when a run is already waiting."""
    with db.transaction(settings().DATABASE_URL) as conn:
        return request_converge_in(conn, subscription_id)
