"""A job's end is recorded even when the connection that was to record it drops.

Found by `mpanel chaos --outages postgres` (and cited by tests/e2e/test_chaos_small.py): a job
that had done its work and whose `finish_job` (or `retry_job`) met a connection just dropped
by PostgreSQL stayed `doing` under a live worker ("Task exception was never retrieved:
ConnectorException"), a billing one holding the billing lock, until the stuck-job sweep
handed it back a quarter of an hour later. The pool hands out a fresh connection on the next
try, so the end is recorded again, a few times, on one; a try that finds the job no longer
`doing` learns that the lost answer was the only thing lost (the end was recorded).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

import procrastinate
import psycopg
from procrastinate import exceptions

log = logging.getLogger("mpanel.jobs")

TRIES = 6
FIRST_WAIT = 0.2


def _dropped(exc: BaseException) -> bool:
    """The connection failed (not the statement): worth a try on another."""
    cause = exc.__cause__ or exc.__context__
    return isinstance(exc, exceptions.ConnectorException) and isinstance(cause, psycopg.OperationalError)


async def _still_doing(manager, job_id: int) -> bool:
    rows = await manager.connector.execute_query_all_async(
        "SELECT 1 FROM procrastinate_jobs WHERE id = %(job_id)s AND status = 'doing'", job_id=job_id)
    return bool(rows)


async def record_end(manager, job_id: int, what: str, record: Callable[[], Awaitable[None]]) -> None:
    wait = FIRST_WAIT
    for attempt in range(1, TRIES + 1):
        try:
            await record()
            return
        except exceptions.ConnectorException as exc:
            if attempt == TRIES or not (_dropped(exc) or attempt > 1):
                raise
            log.warning("job %s: recording its %s failed (%s); trying again on another connection",
                        job_id, what, exc.__cause__ or exc)
        await asyncio.sleep(wait)
        wait = min(wait * 2, 5.0)
        try:
            if not await _still_doing(manager, job_id):
                return  # the earlier try was recorded; only its answer was lost
        except exceptions.ConnectorException:
            pass  # no connection yet either: the next try says


async def beat_or_skip(beat: Callable[[], Awaitable[None]], worker_id: int) -> None:
    """A worker heartbeat met by a dropped connection is skipped (the next comes in seconds;
    a worker counts as stalled only after a minute of silence). Unwrapped, it ended
    procrastinate's side task, which stops the whole worker (seen under `mpanel chaos`)."""
    try:
        await beat()
    except exceptions.ConnectorException as exc:
        if not _dropped(exc):
            raise
        log.warning("worker %s: heartbeat skipped, its connection dropped (%s)", worker_id, exc.__cause__)


def record_ends_despite_dropped_connections(app: procrastinate.App) -> None:
    """Wrap the App's job manager: finishing and retrying a job, and the worker's heartbeat,
    survive a dropped connection."""
    manager = app.job_manager
    finish, retry = manager.finish_job_by_id_async, manager.retry_job_by_id_async
    heartbeat = manager.update_heartbeat

    async def update_heartbeat(worker_id):
        await beat_or_skip(lambda: heartbeat(worker_id), worker_id)

    async def finish_job_by_id_async(job_id, status, delete_job):
        await record_end(manager, job_id, "end", lambda: finish(job_id=job_id, status=status, delete_job=delete_job))

    async def retry_job_by_id_async(job_id, retry_at, priority=None, queue=None, lock=None):
        await record_end(manager, job_id, "retry", lambda: retry(job_id=job_id, retry_at=retry_at, priority=priority,
                                                                  queue=queue, lock=lock))

    manager.finish_job_by_id_async = finish_job_by_id_async
    manager.retry_job_by_id_async = retry_job_by_id_async
    manager.update_heartbeat = update_heartbeat
