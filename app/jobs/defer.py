"""Asking for work: one request function per task, inside the caller's transaction.

A service that changes a subscription's desired state asks for its converge on the same
connection, before its transaction commits, so the request can never be lost between a
commit and a separate enqueue (the straggler sweep stays only as a safety net). Each request
calls procrastinate's own SQL function, exactly what `Task.defer` runs, so the job is the
same job, with the same lock and queueing lock, and its insert trigger wakes the workers.

Every task's name and queue, and every lock and queueing lock a job is asked for with, is
spelled here once: the tasks (app/jobs/tasks.py) take their names and queues from the table
below, and services ask only through the `request_*` functions. The spellings are stored
with every job: running systems have jobs waiting under them, so they never change.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import psycopg
from psycopg import errors

# The worker's queues (app/cli/worker.py gives each lane its own processes).
BILLING, CONVERGE, MAIL, MAINTENANCE = "billing", "converge", "mail", "maintenance"
QUEUES = [BILLING, CONVERGE, MAIL, MAINTENANCE]


@dataclass(frozen=True)
class Job:
    """A task as the database knows it."""
    task: str
    queue: str


# The tasks services ask for (the periodic sweeps are asked for by the worker's clock only;
# their names stand next to them in app/jobs/tasks.py).
CONVERGE_SUBSCRIPTION = Job("converge_subscription", CONVERGE)
CHECK_DRIFT = Job("check_drift", CONVERGE)
PROCESS_STRIPE_EVENT = Job("process_stripe_event", BILLING)
SEND_WELCOME_EMAIL = Job("send_welcome_email", MAIL)
RESEND_WELCOME_EMAIL = Job("resend_welcome_email", MAIL)
SEND_CPANEL_PASSWORD_EMAIL = Job("send_cpanel_password_email", MAIL)
SEND_ATTENTION_ALERT = Job("send_attention_alert", MAIL)
SEND_LIFECYCLE_EMAIL = Job("send_lifecycle_email", MAIL)
SEND_ACCOUNT_EMAIL = Job("send_account_email", MAIL)
SEND_EMAIL_CHANGED_NOTICE = Job("send_email_changed_notice", MAIL)
SEND_PAYMENT_FAILED_NOTICE = Job("send_payment_failed_notice", MAIL)
# Periodic (asked for by the worker's clock): the notices that fall due with time (payment
# reminders, warnings before removal, domain expiry reminders, the operators' day list).
SEND_DUE_NOTICES = Job("send_due_notices", MAIL)
SEND_STAFF_PASSWORD_LINK = Job("send_staff_password_link", MAIL)

# A Stripe customer's billing decisions run one at a time and in the order their events
# arrived: "re-read from Stripe, then apply" is race-free. Each customer is a lane of its own
# (the lock; app/services/orders/lifecycle_rules.py event_lane), so an event that keeps failing
# holds back only its own customer's later events; an event about no customer has its object's
# lane, and one naming neither shares the one lane below.
BILLING_LOCK = "billing"


def billing_lock(lane: str | None) -> str:
    return f"billing-{lane}" if lane else BILLING_LOCK


def subscription_lock(subscription_id: int) -> str:
    """Never two operations on one subscription's stack at once (converge, drift check)."""
    return f"sub-{subscription_id}"


@dataclass(frozen=True)
class JobRequest:
    """One job asked for as an SQL expression, for a statement that does more in the same round
    trip (the webhook's: app/db/orders/stripe_events.record_new). A waiting job holding the same
    queueing lock makes the whole statement fail with UniqueViolation."""
    sql: str
    params: tuple


def _job_request(job: Job, args: dict, *, lock: str | None = None, queueing_lock: str | None = None) -> JobRequest:
    return JobRequest("procrastinate_defer_jobs_v1(ARRAY[ROW(%s, %s, 0, %s, %s, %s::jsonb, NULL)"
                      "::procrastinate_job_to_defer_v1])",
                      (job.queue, job.task, lock, queueing_lock, json.dumps(args)))


def _defer(conn: psycopg.Connection, job: Job, args: dict, *, lock: str | None = None,
           queueing_lock: str | None = None) -> bool:
    """Enqueue `job(**args)` in `conn`'s transaction; False when a job holding the same
    queueing lock is already waiting (that job will read the latest state anyway)."""
    return _ask(conn, _job_request(job, args, lock=lock, queueing_lock=queueing_lock))


def _ask(conn: psycopg.Connection, request: JobRequest) -> bool:
    try:
        with conn.transaction():  # a savepoint: a queueing-lock conflict must not undo the caller's work
            conn.execute(f"SELECT {request.sql}", request.params)
        return True
    except errors.UniqueViolation:
        return False


def _about_subscription(conn: psycopg.Connection, job: Job, subscription_id: int, queueing_lock: str,
                        **more) -> bool:
    """A mail about one subscription (its id, and what else the task takes), at most one waiting
    per queueing lock."""
    return _defer(conn, job, {"subscription_id": subscription_id, **more}, queueing_lock=queueing_lock)


# --- stacks -------------------------------------------------------------------------------------

def request_converge(conn: psycopg.Connection, subscription_id: int, force: bool = False) -> bool:
    """Ask the worker to look at this subscription again; at most one converge waits per
    subscription, so a burst of requests collapses into one run (it reads the latest state).
    `force` (an operator's request): the engine runs even if nothing changed; a converge already
    waiting is made forced instead."""
    lock = subscription_lock(subscription_id)
    args = {"subscription_id": subscription_id, **({"force": True} if force else {})}
    if _defer(conn, CONVERGE_SUBSCRIPTION, args, lock=lock, queueing_lock=lock):
        return True
    if force:
        conn.execute("UPDATE procrastinate_jobs SET args = args || '{\"force\": true}'::jsonb "
                     "WHERE queueing_lock = %s AND status = 'todo' AND task_name = %s",
                     (lock, CONVERGE_SUBSCRIPTION.task))
    return False


def request_drift_check(conn: psycopg.Connection, subscription_id: int) -> bool:
    """Refresh and preview one stack (the drift check), holding the stack's lock; one waits at a time."""
    return _defer(conn, CHECK_DRIFT, {"subscription_id": subscription_id},
                  lock=subscription_lock(subscription_id), queueing_lock=f"drift-{subscription_id}")


# --- billing ------------------------------------------------------------------------------------

def stripe_event_processing(event_id: str, lane: str | None) -> JobRequest:
    """Processing of a recorded Stripe event, in its customer's lane (`billing_lock`)."""
    return _job_request(PROCESS_STRIPE_EVENT, {"event_id": event_id}, lock=billing_lock(lane),
                        queueing_lock=f"evt-{event_id}")


def request_stripe_event(conn: psycopg.Connection, event_id: str, lane: str | None) -> bool:
    """Process a recorded Stripe event (at most one job waits per event)."""
    return _ask(conn, stripe_event_processing(event_id, lane))


# --- mail ---------------------------------------------------------------------------------------

def request_welcome_email(conn: psycopg.Connection, subscription_id: int) -> bool:
    """The welcome after the first successful run (the send itself is recorded once, app.mail)."""
    return _about_subscription(conn, SEND_WELCOME_EMAIL, subscription_id, f"welcome-{subscription_id}")


def request_welcome_resend(conn: psycopg.Connection, subscription_id: int, resend: int) -> bool:
    """An operator's resend of the welcome, numbered so each resend is sent once."""
    return _about_subscription(conn, RESEND_WELCOME_EMAIL, subscription_id,
                              f"welcome-resend-{subscription_id}", resend=resend)


def request_cpanel_password_email(conn: psycopg.Connection, subscription_id: int, reset: int) -> bool:
    """The new cPanel password a reset asked for, once the converge has set it."""
    return _about_subscription(conn, SEND_CPANEL_PASSWORD_EMAIL, subscription_id,
                              f"cpanel-password-{subscription_id}-{reset}", reset=reset)


def request_attention_alert(conn: psycopg.Connection, subscription_id: int) -> bool:
    """Tell the operators this subscription needs a person; one alert waits at a time."""
    return _about_subscription(conn, SEND_ATTENTION_ALERT, subscription_id, f"attention-{subscription_id}")


def request_lifecycle_email(conn: psycopg.Connection, subscription_id: int, kind: str) -> bool:
    """A notice (suspended, reactivated, canceled) about one subscription, queued once per kind."""
    return _about_subscription(conn, SEND_LIFECYCLE_EMAIL, subscription_id,
                              f"mail-{kind}-{subscription_id}", kind=kind)


def request_payment_failed_notice(conn: psycopg.Connection, subscription_id: int) -> bool:
    """The notice at once after a failed renewal payment (sent once per past-due occurrence)."""
    return _about_subscription(conn, SEND_PAYMENT_FAILED_NOTICE, subscription_id,
                              f"payment-failed-{subscription_id}")


def request_account_email(conn: psycopg.Connection, token_id: int) -> bool:
    """A password-reset or email-change link: only the token's row id travels, never the token."""
    return _defer(conn, SEND_ACCOUNT_EMAIL, {"token_id": token_id}, queueing_lock=f"account-link-{token_id}")


def request_email_changed_notice(conn: psycopg.Connection, token_id: int) -> bool:
    """Tell the address an email change replaced (the confirmed link's row id travels)."""
    return _defer(conn, SEND_EMAIL_CHANGED_NOTICE, {"token_id": token_id},
                  queueing_lock=f"email-changed-{token_id}")


def request_staff_password_link(conn: psycopg.Connection, token_hash: str) -> bool:
    """A new staff member's set-password link: the token's hash travels, never the token."""
    return _defer(conn, SEND_STAFF_PASSWORD_LINK, {"token_hash": token_hash},
                  queueing_lock=f"staff-link-{token_hash[:24]}")
