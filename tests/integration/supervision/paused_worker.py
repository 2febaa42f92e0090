"""A real worker process for the kill tests: `python -m tests.integration.supervision.paused_worker`.

It runs the jobs of the queues it is given exactly as one lane of `mpanel worker` does
(app/cli/worker.py `run_one`: the queue configured from the environment, a heartbeat in
PostgreSQL, procrastinate's worker), with two things only a test needs, both patched in this
process and nowhere else:

- `--pause-at module:attribute` replaces that function with one that touches `--marker` and
  sleeps: the test SIGKILLs the process there, at that exact point of the job;
- `--engine fake`: the stack operations answer at once (a converge succeeds with outputs, the
  welcome email reads them), so a converge's bookkeeping is killed and recovered in seconds.

With `--drain` it runs what its queues hold and exits (procrastinate's `wait=False`).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import time
from pathlib import Path


def pause_at(target: str, marker: Path) -> None:
    module_name, _, attribute = target.partition(":")
    owner = importlib.import_module(module_name)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)

    def paused(*args, **kwargs):
        marker.write_text(target)
        while True:  # until SIGKILL
            time.sleep(60)

    setattr(owner, name, paused)


def counted(name: str, ran: Path):
    def body(*_context, timestamp: int) -> int:  # a task with pass_context gets its context first
        with open(ran, "a") as f:
            f.write(f"{name}@{timestamp}\n")
        return 0
    return body


class FakeEngine:
    """Stack operations that succeed at once: what the converge records is what is tested."""

    def __init__(self, settings):
        self.settings = settings

    def converge(self, spec, recorder, **_):
        from stacks.outcome import Succeeded

        return Succeeded(changes={"create": 1}, outputs=self.outputs(spec.subscription_id))

    def tear_down(self, subscription_id, recorder, **_):
        from stacks.outcome import Succeeded

        return Succeeded(changes={"delete": 1})

    def outputs(self, subscription_id: int) -> dict:
        from app import db
        from tests.factories import provisioned_outputs

        with db.transaction(self.settings.DATABASE_URL) as conn:
            domain = conn.execute("SELECT name FROM domains WHERE subscription_id = %s",
                                  (subscription_id,)).fetchone()["name"]
        return provisioned_outputs(domain)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", required=True)
    parser.add_argument("--pause-at")
    parser.add_argument("--marker", type=Path)
    parser.add_argument("--engine", choices=["real", "fake"], default="real")
    parser.add_argument("--stripe-subscription", help="retrieve_subscription answers this status (active)")
    parser.add_argument("--count-periodic", type=Path,
                        help="periodic tasks' bodies only write `name@timestamp` here (their runs are counted)")
    parser.add_argument("--drain", action="store_true")
    args = parser.parse_args()

    from app.jobs.queue import queue
    from app.services.hosting.workers import heartbeat, stop_heartbeat
    from app.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s paused-worker[%(process)d] %(name)s %(message)s")
    settings = Settings.from_env()
    queue.configure(settings)
    import app.jobs.tasks  # noqa: F401  (registered, and patched below where asked)

    # Only the test queues jobs here: no periodic deferrer adding sweeps of its own.
    periodic = [p.task for p in queue.app.periodic_registry.periodic_tasks.values()]
    queue.app.periodic_registry.periodic_tasks.clear()
    if args.count_periodic:
        for task in periodic:
            task.func = counted(task.name, args.count_periodic)

    if args.engine == "fake":
        import app.jobs.tasks as tasks
        import app.services.hosting.converge as converge
        import app.services.hosting.welcome_logins as welcome_logins

        tasks.stack_operations = converge.stack_operations = welcome_logins.stack_operations = FakeEngine
    if args.stripe_subscription:
        from app.services.orders import lifecycle

        lifecycle.billing.retrieve_subscription = lambda settings_, asked: {
            "id": asked, "status": "active", "customer": "cus_killed", "cancel_at_period_end": False,
            "items": {"data": [{"price": {"id": "price_unknown"}, "current_period_end": 1900000000}]}}
    if args.pause_at:
        pause_at(args.pause_at, args.marker)

    heartbeat(settings)
    try:
        with queue.open() as app:
            app.run_worker(queues=args.queues.split(","), concurrency=1, wait=not args.drain,
                           install_signal_handlers=True)
    finally:
        stop_heartbeat()


if __name__ == "__main__":
    main()
