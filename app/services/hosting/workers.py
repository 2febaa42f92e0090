"""This process as a worker: its heartbeat in PostgreSQL, and the recovery of dead workers' runs.

Workers on many hosts share nothing but PostgreSQL, so liveness lives there
(app/db/hosting/workers.py): each process that runs engine operations has a row with a random id,
refreshed every MPANEL_WORKER_HEARTBEAT_SECONDS by a thread that also holds the worker's
liveness lock on its own connection. A run records its worker's id. Every `mpanel worker`
process also sweeps: a run whose worker is dead (lock free, or silent for longer than
MPANEL_WORKER_DEAD_AFTER_SECONDS) is marked interrupted and its job handed back to the queue
(or a converge requested), so any worker on any host finishes the stack, repairing first.

A process whose heartbeat connection is lost can no longer prove it is alive, and another
worker may be taking over its stacks: it kills its own engine runs at once (fencing), then
reconnects under the same id.
"""
from __future__ import annotations

import logging
import os
import secrets
import select
import socket
import threading
import time

import psycopg
from psycopg.rows import dict_row

from app import db
from app.db.hosting import runs
from app.db.hosting import workers as rows
from app.jobs.defer import BILLING, MAIL, request_converge
from app.services.hosting.stalled_jobs import hand_back_each
from app.settings import Settings
from stacks import supervision

log = logging.getLogger("mpanel.workers")

_current: "Heartbeat | None" = None
_current_lock = threading.Lock()


class Heartbeat:
    def __init__(self, settings: Settings, sweep: bool):
        self.settings, self.sweep = settings, sweep
        self.id: int | None = None
        self._conn: psycopg.Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the connection that proves this process alive ------------------------------------
    def _connect(self) -> None:
        conn = psycopg.connect(self.settings.DATABASE_URL, autocommit=True, row_factory=dict_row,
                               application_name="mpanel worker heartbeat")
        host, pid = socket.gethostname(), os.getpid()
        while True:
            if self.id is None:  # a new worker: a random id nobody has
                worker_id = secrets.randbelow(2**31 - 2) + 1
                if not rows.register(conn, worker_id, host, pid):
                    continue
            else:  # reconnecting: the same id (its row may have been pruned meanwhile)
                worker_id = self.id
                if not rows.beat(conn, worker_id):
                    rows.register(conn, worker_id, host, pid)
            if rows.take_liveness_lock(conn, worker_id):
                break
            self.id = None  # someone holds this id's lock: start over as a new worker
        self.id, self._conn = worker_id, conn

    def start(self) -> int:
        self._connect()
        self._thread = threading.Thread(target=self._loop, name="mpanel-heartbeat", daemon=True)
        self._thread.start()
        log.info("worker %s: heartbeat every %g s (%s)", self.id, self.settings.MPANEL_WORKER_HEARTBEAT_SECONDS,
                 "recovering dead workers' runs" if self.sweep else "runs only")
        return self.id

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        try:
            if self._conn is not None:
                rows.unregister(self._conn, self.id)
                self._conn.close()
        except psycopg.Error:
            pass

    def _wait(self, seconds: float) -> None:
        """Sleep until the next beat, waking at once if the connection says something (a server
        that terminates it sends a message and closes)."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
            try:
                ready, _, _ = select.select([self._conn.fileno()], [], [], min(left, 0.5))
            except (OSError, ValueError):
                return
            if ready:
                return

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wait(self.settings.MPANEL_WORKER_HEARTBEAT_SECONDS)
            if self._stop.is_set():
                return
            try:
                self._conn.execute("SELECT 1")  # reads anything pending; raises if the connection died
                if not rows.beat(self._conn, self.id):
                    rows.register(self._conn, self.id, socket.gethostname(), os.getpid())
            except (psycopg.Error, OSError) as exc:
                self._lost(exc)
                continue
            if self.sweep:
                try:
                    recover_dead_workers(self.settings)
                except Exception:  # the next beat tries again
                    log.exception("worker %s: recovering dead workers' runs failed", self.id)

    def _lost(self, exc: Exception) -> None:
        killed = supervision.fence("this worker lost its heartbeat connection to PostgreSQL")
        log.error("worker %s: heartbeat connection lost (%s); stopped %d engine run(s), reconnecting",
                  self.id, exc, len(killed))
        try:
            self._conn.close()
        except Exception:
            pass
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._connect()
                return
            except psycopg.Error:
                self._stop.wait(delay)
                delay = min(delay * 2, 10)


def heartbeat(settings: Settings, sweep: bool = False) -> int:
    """This process's worker id, its heartbeat started on first use (a worker, or an operator's
    `mpanel stacks up`: any process that runs the engine). `sweep`: also recover dead workers'
    runs (worker processes)."""
    global _current
    with _current_lock:
        if _current is None or _current.settings.DATABASE_URL != settings.DATABASE_URL:
            _current = Heartbeat(settings, sweep)
            _current.start()
        elif sweep:
            _current.sweep = True
        return _current.id


def stop_heartbeat() -> None:
    global _current
    with _current_lock:
        if _current is not None:
            _current.stop()
            _current = None


def recover_dead_workers(settings: Settings) -> int:
    """Runs whose worker is dead: marked interrupted (the next run on the stack repairs it first),
    and the job that was running each handed back to the queue at once, or, for a run without a
    job (an operator's command), a converge requested. Returns how many runs were recovered."""
    dead_after = settings.MPANEL_WORKER_DEAD_AFTER_SECONDS
    with db.transaction(settings.DATABASE_URL) as conn:
        found = rows.runs_of_dead_workers(conn, dead_after)
        for run in found:
            log.warning("run %s of subscription %s: its worker %s is dead; handing it to another worker",
                        run["id"], run["subscription_id"], run["worker_id"])
            runs.mark_interrupted(conn, [run["id"]], why=f"its worker ({run['worker_id']}) stopped heartbeating")
            if run["job_status"] == "doing":
                hand_back_each(conn, [run["job_id"]], f"its worker ({run['worker_id']}) stopped heartbeating")
            else:
                request_converge(conn, run["subscription_id"])
        rows.prune(conn, max(dead_after * 10, 3600))
    return len(found)


# Billing and mail jobs end within minutes (Stripe's and SMTP's timeouts and their few retries)
# and are safe to run twice (events are applied once, emails are claimed), so one still `doing`
# after this long is lost, not slow.
QUICK_QUEUES = (BILLING, MAIL)


def hand_back_stuck_jobs(settings: Settings) -> int:
    """Billing and mail jobs stuck `doing` (their end could not be recorded) back to the queue."""
    with db.transaction(settings.DATABASE_URL) as conn:
        stuck = rows.stuck_jobs(conn, QUICK_QUEUES, settings.MPANEL_STUCK_JOB_SECONDS)
        return hand_back_each(conn, [job["id"] for job in stuck], "doing for longer than any run takes")
