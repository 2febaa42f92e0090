"""Nothing owed stays silent (architecture decision 10; issue 28: a paid customer went 25
minutes without a welcome email and nobody was told).

Every minute: a paid, provisioned order without its welcome email after
MPANEL_WELCOME_DEADLINE_MINUTES flags its subscription "needs attention" (the flag every
other failure raises: console list and one email to the operators); a job `doing` past its
deadline, a Stripe event unprocessed past its deadline and a periodic task that failed three
times in a row go on the system-level attention list on the console's overview. Each is
raised once while it lasts, with its reason, and leaves the list when it ends.
"""
from __future__ import annotations

import logging

from app import db
from app.db.hosting import subscriptions as subscription_flags
from app.db import overdue as rows
from app.jobs.defer import request_attention_alert
from app.settings import Settings

log = logging.getLogger("mpanel.overdue")

# A Stripe event is asked for again every 5 minutes (process_unprocessed_stripe_events): still
# unprocessed after six asks, it is not going through by itself.
EVENT_DEADLINE_MINUTES = 30
PERIODIC_FAILURES_IN_A_ROW = 3
# Maintenance sweeps (a nightly drift check of every stack) may run for hours; more is lost.
MAINTENANCE_JOB_DEADLINE_SECONDS = 6 * 3600


def job_deadlines(settings: Settings) -> dict[str, float]:
    """How long a job of each queue may be `doing`: twice what its own recovery waits for (a
    quick job is handed back after MPANEL_STUCK_JOB_SECONDS, an engine run killed after
    MPANEL_RUN_TIMEOUT_SECONDS), so one still there means the recovery itself is not working."""
    quick = 2 * settings.MPANEL_STUCK_JOB_SECONDS
    return {"billing": quick, "mail": quick, "converge": 2 * settings.MPANEL_RUN_TIMEOUT_SECONDS,
            "maintenance": MAINTENANCE_JOB_DEADLINE_SECONDS}


def raise_overdue(settings: Settings) -> int:
    """Flag what is owed and late; returns how many were newly raised."""
    raised = 0
    with db.transaction(settings.DATABASE_URL) as conn:
        minutes = settings.MPANEL_WELCOME_DEADLINE_MINUTES
        for sub in rows.welcomes_overdue(conn, minutes):
            reason = (f"the welcome email was not sent within {minutes:g} minutes of provisioning "
                      f"(ready since {sub['ready_at']:%Y-%m-%d %H:%M} UTC)")
            if subscription_flags.flag(conn, sub["id"], reason):
                log.error("subscription %s needs attention: %s", sub["id"], reason)
                request_attention_alert(conn, sub["id"])
                raised += 1

        found: dict[str, str] = {}
        deadlines = job_deadlines(settings)
        for job in rows.jobs_doing_past(conn, deadlines, MAINTENANCE_JOB_DEADLINE_SECONDS):
            found[f"job:{job['id']}"] = (f"job {job['id']} ({job['task_name']}, queue {job['queue_name']}) doing since "
                                         f"{job['started_at']:%Y-%m-%d %H:%M} UTC, past its deadline")
        for event in rows.events_unprocessed_past(conn, EVENT_DEADLINE_MINUTES):
            found[f"event:{event['id']}"] = (f"Stripe event {event['id']} ({event['type']}) unprocessed since "
                                             f"{event['received_at']:%Y-%m-%d %H:%M} UTC")
        for task in rows.periodic_tasks_failing(conn, PERIODIC_FAILURES_IN_A_ROW):
            found[f"periodic:{task['task_name']}"] = (f"periodic task {task['task_name']} failed "
                                                      f"{PERIODIC_FAILURES_IN_A_ROW} times in a row")
        for key, reason in found.items():
            if rows.raise_attention(conn, key, reason):
                log.error("needs attention: %s", reason)
                raised += 1
        rows.clear_attention_except(conn, list(found))
    return raised
