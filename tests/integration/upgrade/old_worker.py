"""Runs inside a worktree of the previous release (PYTHONPATH=<worktree>, this venv's python),
against a database the current release migrated: that release's own `mpanel db upgrade` (a no-op
that must not stumble on newer migrations), its worker heartbeat and its queue worker running one
converge job of its own, on a queue of its own so it takes no other test's job. Argument: the
subscription id. Prints one JSON line. Nothing of the current release is imported here."""
import json
import sys

from app import db
from app.jobs import tasks
from app.jobs.queue import queue, settings
from app.services.workers import heartbeat, stop_heartbeat

subscription_id = int(sys.argv[1])
upgraded = db.upgrade(settings().DATABASE_URL)
worker_id = heartbeat(settings(), sweep=True)
QUEUE = "old-release-check"
with queue.open():
    job_id = tasks.converge_subscription.configure(queue=QUEUE, lock=f"sub-{subscription_id}").defer(
        subscription_id=subscription_id)
    queue.run_worker(queues=[QUEUE], wait=False, concurrency=1, install_signal_handlers=False)
stop_heartbeat()
print(json.dumps({"upgraded": upgraded, "worker_id": worker_id, "job_id": job_id}))
