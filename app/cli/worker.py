"""`mpanel worker`: runs converge jobs. Concurrency is processes, not threads.

The Pulumi SDK keeps per-program runtime state in process globals, so two inline
programs must not run in one process at once; N worker processes (each one job at
a time) give N stacks converging in parallel, and more hosts simply add processes
against the same PostgreSQL (architecture decision 9).
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

QUEUES = ["billing", "converge", "mail", "maintenance"]


def run_one() -> int:
    from app.jobs.queue import queue

    logging.basicConfig(level=os.environ.get("MPANEL_LOG_LEVEL", "INFO"),
                        format="%(asctime)s worker[%(process)d] %(name)s %(levelname)s %(message)s")
    with queue.open():
        queue.run_worker(queues=QUEUES, concurrency=1, install_signal_handlers=True)
    return 0


def run(concurrency: int) -> int:
    if concurrency <= 1:
        return run_one()
    children = [subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--concurrency", "1"])
                for _ in range(concurrency)]
    stopping = {"flag": False}

    def stop(*_):
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping["flag"] and all(c.poll() is None for c in children):
            time.sleep(0.5)
    finally:
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
        for c in children:
            try:
                c.wait(60)
            except subprocess.TimeoutExpired:
                c.kill()
    return 0 if stopping["flag"] else 1
