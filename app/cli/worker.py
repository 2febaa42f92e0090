"""`mpanel worker`: runs converge jobs. Concurrency is processes, not threads.

The Pulumi SDK keeps per-program runtime state in process globals, so two inline
programs must not run in one process at once; N worker processes (each one job at
a time) give N stacks converging in parallel, and more hosts simply add processes
against the same PostgreSQL (architecture decision 9). Each process heartbeats there and
recovers the runs of workers that stopped (app/services/hosting/workers.py).
"""
from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

from app.jobs.defer import BILLING, CONVERGE, MAIL, MAINTENANCE, QUEUES
from app.observe import logs
from app.settings import Settings, log_format, log_level

# Billing decisions, emails and sweeps are short; a burst of converges (seconds each) or a
# hung engine run must never make them wait, so they get a process of their own.
SERVICE_QUEUES = [BILLING, MAIL, MAINTENANCE]
CONVERGE_QUEUES = [CONVERGE]
# After a stop is asked, how long past the engine-run deadline the children may take to finish.
STOP_MARGIN_SECONDS = 30


def _warm(settings) -> None:
    from app.services.hosting.engine import warm_provider_server

    try:
        warm_provider_server(settings)
    except Exception:  # noqa: BLE001 - the first converge starts it instead, and says why if it cannot
        logging.getLogger("mpanel.worker").warning("provider server not started ahead", exc_info=True)


def run_one(settings: Settings, queues: list[str] | None = None) -> int:
    from app.jobs.queue import queue
    from app.services.hosting.workers import heartbeat, stop_heartbeat

    logs.configure("worker", settings, level=log_level(), fmt=log_format())
    queue.configure(settings)
    # Liveness in PostgreSQL, and the sweep that hands a dead worker's runs to a live one.
    heartbeat(settings, sweep=True)
    if CONVERGE in (queues or QUEUES):
        threading.Thread(target=_warm, args=(settings,), name="warm-providers", daemon=True).start()
    try:
        with queue.open() as app:
            app.run_worker(queues=queues or QUEUES, concurrency=1, install_signal_handlers=True)
    finally:
        stop_heartbeat()
    return 0


def run(settings: Settings, concurrency: int, queues: list[str] | None = None) -> int:
    """N converge children and one for billing, mail and maintenance, each kept running: one
    that dies (an OOM kill, a SIGKILL) is started again with backoff while the others keep
    working. A job the dead child held is retried by procrastinate's stalled-job recovery,
    its stack lock by the converge's. With concurrency 1, one process takes every queue."""
    if concurrency <= 1 or queues:
        return run_one(settings, queues)
    from stacks.keepalive import KeepAlive, die_with_parent, stop_on_signal

    keeper = KeepAlive(say=lambda line: print(f"mpanel worker: {line}", file=sys.stderr, flush=True))
    with_parent = die_with_parent()

    def child(lanes: list[str]):
        return lambda: subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--concurrency", "1",
                                         "--queues", ",".join(lanes)], preexec_fn=with_parent)

    for n in range(1, concurrency + 1):
        keeper.add(f"child {n}", child(CONVERGE_QUEUES))
    keeper.add("billing and mail", child(SERVICE_QUEUES))
    stopping = stop_on_signal()
    try:
        while not stopping.is_set():
            keeper.check()
            time.sleep(0.2)
    finally:
        # A child finishes the job it is running before it exits (procrastinate's graceful stop):
        # an engine run gets its whole deadline (it is killed at MPANEL_RUN_TIMEOUT_SECONDS by its
        # own supervision), plus a margin for recording its end. The systemd unit's
        # TimeoutStopSec (templates/deploy/mpanel-worker.service) is longer still.
        keeper.stop(timeout=settings.MPANEL_RUN_TIMEOUT_SECONDS + STOP_MARGIN_SECONDS)
    return 0
