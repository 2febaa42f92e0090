"""Gauges read from the database when Prometheus scrapes (a custom collector): nothing keeps
them up to date in between, and a process that died cannot leave one wrong."""
from __future__ import annotations

import logging

from prometheus_client.core import GaugeMetricFamily

from app import db
from app.db import gauges
from app.jobs.defer import QUEUES
from app.settings import Settings

log = logging.getLogger("mpanel.metrics")


class DatabaseGauges:
    def __init__(self, settings: Settings):
        self.settings = settings

    def describe(self):  # registering does not call collect() (no query at startup)
        return []

    def collect(self):
        up = GaugeMetricFamily("mpanel_database_up", "Whether /metrics could read the database (1) or not (0)")
        try:
            with db.transaction(self.settings.DATABASE_URL) as conn:
                conn.execute("SET LOCAL statement_timeout = '5s'")
                waiting = {row["queue"]: row for row in gauges.waiting_jobs(conn)}
                attention = gauges.needing_attention(conn)
                alive = gauges.workers_alive(conn, self.settings.MPANEL_WORKER_DEAD_AFTER_SECONDS)
                running = {row["operation"]: row["n"] for row in gauges.runs_in_flight(conn)}
        except Exception:  # noqa: BLE001 - a scrape answers with what it has; the alert on mpanel_database_up says why
            log.warning("metrics: cannot read the database", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("mpanel_queue_depth", "Jobs due and waiting for a worker, per queue", labels=["queue"])
        oldest = GaugeMetricFamily("mpanel_queue_oldest_job_seconds", "How long the oldest due job has waited, per queue",
                                   labels=["queue"])
        for queue in sorted(set(QUEUES) | set(waiting)):
            row = waiting.get(queue)
            depth.add_metric([queue], row["depth"] if row else 0)
            oldest.add_metric([queue], float(row["oldest_seconds"]) if row else 0.0)
        yield depth
        yield oldest
        needs = GaugeMetricFamily("mpanel_needs_attention", "Open flags an operator must act on: orders "
                                  "(subscriptions) and system conditions (stuck jobs, unprocessed events)",
                                  labels=["what"])
        needs.add_metric(["orders"], attention["orders"])
        needs.add_metric(["system"], attention["system"])
        yield needs
        yield GaugeMetricFamily("mpanel_workers_alive", "Worker processes whose heartbeat is recent", value=alive)
        runs = GaugeMetricFamily("mpanel_engine_runs_in_flight", "Engine runs started and not finished, by kind",
                                 labels=["kind"])
        for kind in sorted({"up", "destroy", "refresh"} | set(running)):
            runs.add_metric([kind], running.get(kind, 0))
        yield runs
