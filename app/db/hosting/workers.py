"""Worker liveness (table workers, migration 0013): heartbeats, and which runs lost their worker.

A worker is alive while it holds its liveness lock (a session advisory lock on its heartbeat
connection, freed by PostgreSQL the moment that connection closes: a killed process is known
at once) and its heartbeat is recent (a host that vanished without closing its connections is
known after `dead_after` seconds). Hostnames and pids are kept for people only.
"""
from __future__ import annotations

import psycopg

# Advisory-lock class of worker liveness locks: (LIVENESS_LOCK_CLASS, worker id).
LIVENESS_LOCK_CLASS = 28016

# SQL true when worker `w.id` (row alias w, id expression given) is dead; takes at most a
# transaction-level try-lock, released at commit.
_DEAD = """(w.id IS NULL OR w.last_heartbeat < now() - make_interval(secs => %(dead_after)s)
            OR pg_try_advisory_xact_lock({lock_class}, {worker}))"""


def register(conn: psycopg.Connection, worker_id: int, hostname: str, pid: int) -> bool:
    """Add this worker's row (False: the random id is taken, pick another)."""
    return conn.execute("INSERT INTO workers (id, hostname, pid) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING "
                        "RETURNING id", (worker_id, hostname, pid)).fetchone() is not None


def take_liveness_lock(conn: psycopg.Connection, worker_id: int) -> bool:
    """On the heartbeat's own connection: held for as long as that connection lives."""
    return conn.execute("SELECT pg_try_advisory_lock(%s, %s) AS held",
                        (LIVENESS_LOCK_CLASS, worker_id)).fetchone()["held"]


def beat(conn: psycopg.Connection, worker_id: int) -> bool:
    """False when the row is gone (pruned after a long silence): register again."""
    return conn.execute("UPDATE workers SET last_heartbeat = now() WHERE id = %s RETURNING id",
                        (worker_id,)).fetchone() is not None


def unregister(conn: psycopg.Connection, worker_id: int) -> None:
    conn.execute("DELETE FROM workers WHERE id = %s", (worker_id,))


def is_dead(conn: psycopg.Connection, worker_id: int | None, dead_after: float) -> bool:
    """A run without a worker id (recorded before heartbeats, or by hand) has nobody alive behind it."""
    if worker_id is None:
        return True
    return conn.execute(
        "SELECT " + _DEAD.format(lock_class=LIVENESS_LOCK_CLASS, worker="%(id)s") + " AS dead "
        "FROM (SELECT %(id)s::integer AS wanted) x LEFT JOIN workers w ON w.id = x.wanted",
        {"id": worker_id, "dead_after": dead_after}).fetchone()["dead"]


def runs_of_dead_workers(conn: psycopg.Connection, dead_after: float) -> list[dict]:
    """Runs still 'running' whose worker is dead, locked (SKIP LOCKED: another worker's sweep or a
    starting run has them), with the state of the job that ran each (None: no job, or it is gone)."""
    return conn.execute(
        """SELECT r.id, r.subscription_id, r.worker_id, r.job_id, j.status AS job_status
             FROM provisioning_runs r
             LEFT JOIN workers w ON w.id = r.worker_id
             LEFT JOIN procrastinate_jobs j ON j.id = r.job_id
            WHERE r.status = 'running' AND """ + _DEAD.format(lock_class=LIVENESS_LOCK_CLASS, worker="r.worker_id")
        + " FOR UPDATE OF r SKIP LOCKED", {"dead_after": dead_after}).fetchall()


def retry_job(conn: psycopg.Connection, job_id: int) -> None:
    """Hand a job its dead worker was doing back to the queue at once (procrastinate's own retry)."""
    conn.execute("SELECT procrastinate_retry_job_v2(%s, now(), NULL, NULL, NULL)", (job_id,))


def stuck_jobs(conn: psycopg.Connection, queues: tuple[str, ...], older_than: float) -> list[dict]:
    """Jobs of these queues `doing` for longer than any run of theirs can take. Found by
    `mpanel chaos`: when the worker's connection is dropped just as a job ends, procrastinate
    cannot record the end, and the job stays `doing` under a worker that still heartbeats, so
    its own stalled-job check never hands it back (and a held lock stops its queue)."""
    return conn.execute(
        """SELECT j.id, j.task_name FROM procrastinate_jobs j
            WHERE j.status = 'doing' AND j.queue_name = ANY(%s)
              AND (SELECT max(e.at) FROM procrastinate_events e
                    WHERE e.job_id = j.id AND e.type = 'started') < now() - make_interval(secs => %s)
              FOR UPDATE OF j SKIP LOCKED""", (list(queues), older_than)).fetchall()


def prune(conn: psycopg.Connection, silent_for: float) -> int:
    """Rows of workers silent this long go (runs naming them then count as dead anyway)."""
    return conn.execute("DELETE FROM workers WHERE last_heartbeat < now() - make_interval(secs => %s)",
                        (silent_for,)).rowcount


def close_job(conn: psycopg.Connection, job_id: int) -> None:
    """End a `doing` job without running it again (status aborted), which frees its lock."""
    conn.execute("SELECT procrastinate_finish_job_v1(%s, 'aborted', false)", (job_id,))


def doing_job(conn: psycopg.Connection, job_id: int) -> dict | None:
    """The job, locked, while it is still `doing` (None: another sweep or its worker moved it on)."""
    return conn.execute("SELECT id, task_name, queueing_lock FROM procrastinate_jobs "
                        "WHERE id = %s AND status = 'doing' FOR UPDATE SKIP LOCKED", (job_id,)).fetchone()
