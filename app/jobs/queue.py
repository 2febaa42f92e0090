"""The job queue: procrastinate in the application's PostgreSQL.

Job policy lives on the task decorators (app/jobs/tasks.py) and the request functions
(app/jobs/defer.py):
- `lock=sub-<id>`: never two operations on one subscription's stack at once;
- `queueing_lock=sub-<id>`: at most one waiting converge per subscription, so a burst
  of webhooks collapses into one run (the run reads the latest desired state anyway);
- retries with exponential backoff for transient failures only.

The tasks register on `queue` when app/jobs/tasks.py is imported; which database they run
in is known only once the process configures it from its settings (`queue.configure`,
called by create_app and by `mpanel worker`). Importing this module reads no configuration.
"""
from __future__ import annotations

import procrastinate
from procrastinate.manager import JobManager

from app.settings import Settings


class NotConfigured(RuntimeError):
    """The queue was used before `queue.configure(settings)`."""


class Queue(procrastinate.Blueprint):
    """This process's queue: the tasks, and once configured, the procrastinate App that runs them."""

    def __init__(self) -> None:
        super().__init__()
        self._app: procrastinate.App | None = None
        self._settings: Settings | None = None

    def configure(self, settings: Settings) -> procrastinate.App:
        """Build the App on `settings`' database, with every task; the same settings again keep
        the App already built (and its open pool)."""
        if self._app is not None and self._settings == settings:
            return self._app
        from app.jobs import tasks  # noqa: F401  (registers every task on this queue)
        from app.jobs.ends import record_ends_despite_dropped_connections

        app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=settings.DATABASE_URL, min_size=1, max_size=4),
            import_paths=["app.jobs.tasks"])
        # No namespace: each task keeps its own name, the one jobs are stored under.
        app.add_tasks_from(self, namespace="")
        # A job's end survives a connection PostgreSQL drops just then (app/jobs/ends.py).
        record_ends_despite_dropped_connections(app)
        self._app, self._settings = app, settings
        return app

    @property
    def app(self) -> procrastinate.App:
        if self._app is None:
            raise NotConfigured("the job queue is not configured: call app.jobs.queue.queue.configure(settings)")
        return self._app

    @property
    def settings(self) -> Settings:
        """The settings the queue was configured with: the ones every task runs with."""
        if self._settings is None:
            raise NotConfigured("the job queue is not configured: call app.jobs.queue.queue.configure(settings)")
        return self._settings

    @property
    def job_manager(self) -> JobManager:
        """The configured App's (the stalled-job recovery asks it, app/jobs/tasks.py)."""
        return self.app.job_manager

    def open(self) -> procrastinate.App:
        """Open the App's connection pool (also a context manager that closes it)."""
        return self.app.open()


queue = Queue()


def settings() -> Settings:
    """The settings the tasks run with (those the process configured the queue with)."""
    return queue.settings
