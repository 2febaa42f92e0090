"""The queue's tasks: each one calls a service (no SQL here) and declares its policy."""
from __future__ import annotations

import logging

from app.jobs.queue import queue, settings
from app.jobs.retry import CappedBackoff
from app.services.hosting.errors import TransientConvergeError

log = logging.getLogger("mpanel.jobs")


def _transient_only() -> CappedBackoff:
    """A converge is retried for as long as its failure is transient (an outage ends); a
    permanent one is on the subscription for a person to act on."""
    return CappedBackoff(first=4, cap=3600, retry_exceptions={TransientConvergeError})


def _until_done() -> CappedBackoff:
    """Emails and billing events are owed until they are done: retried, at most an hour apart,
    unless what they are about no longer exists."""
    from app.mail import UnknownSubscription

    return CappedBackoff(first=5, cap=3600, never_retry={UnknownSubscription})


# --- stacks ----------------------------------------------------------------------------------

@queue.task(name="converge_subscription", queue="converge", retry=_transient_only(), pass_context=True)
def converge_subscription(context, subscription_id: int) -> str:
    """Make one subscription match its desired state. The emails a successful run owes
    (welcome, a new cPanel password) are queued in the same transaction that records it.
    The run records this job, so a sweep can hand it back if its worker dies (app/services/hosting/workers.py)."""
    from app.services.hosting.converge import Converger

    outcome = Converger(settings(), job_id=context.job.id).converge(subscription_id)
    log.info("subscription %s: %s", subscription_id, outcome)
    return outcome


@queue.task(name="check_drift", queue="converge", retry=_transient_only(), pass_context=True)
def check_drift(context, subscription_id: int) -> bool:
    from app.services.hosting.converge import Converger

    return Converger(settings(), job_id=context.job.id).check_drift(subscription_id)


# --- billing ---------------------------------------------------------------------------------

def _a_few_quick_tries() -> CappedBackoff:
    """Billing jobs share one lock, and a job waiting to retry holds it: an event that keeps
    failing must not stall every later one. It gets a few quick tries; after that the sweep of
    unprocessed events (app/services/sweeps.py) asks again every few minutes, for as long as
    it stays unprocessed, while the other events go through."""
    return CappedBackoff(first=2, cap=30, max_attempts=3)


@queue.task(name="process_stripe_event", queue="billing", retry=_a_few_quick_tries())
def process_stripe_event(event_id: str) -> None:
    """Billing decisions are serialised (lock "billing", set where the job is deferred): each
    is a short transaction, and one at a time makes "re-read from Stripe, then apply" race-free.
    The converges and notices it decides are queued inside that transaction."""
    from app.services.orders.lifecycle import process_event

    process_event(settings(), event_id)


@queue.periodic(cron="* * * * *")
@queue.task(name="enforce_billing_deadlines", queue="billing")
def enforce_billing_deadlines(timestamp: int) -> None:
    """Suspend past-due accounts whose grace period is over; terminate canceled ones past retention."""
    from app.services.orders.lifecycle import enforce_billing_deadlines as enforce

    enforce(settings())


# --- mail ------------------------------------------------------------------------------------

@queue.task(name="send_welcome_email", queue="mail", retry=_until_done())
def send_welcome_email(subscription_id: int) -> bool:
    """Exactly once per subscription (app.mail records it); the passwords come from the
    stack's secret outputs at send time and exist nowhere else."""
    from app import mail
    from app.services.hosting.engine import stack_operations

    return mail.send_welcome(settings(), subscription_id, stack_operations(settings()).outputs(subscription_id))


@queue.task(name="resend_welcome_email", queue="mail", retry=_until_done())
def resend_welcome_email(subscription_id: int, resend: int) -> bool:
    """An operator's resend from the console: once per resend number."""
    from app import mail
    from app.services.hosting.engine import stack_operations

    outputs = stack_operations(settings()).outputs(subscription_id)
    return mail.send_welcome(settings(), subscription_id, outputs,
                             dedupe_key=f"{mail.welcome_key(subscription_id)}:resend:{resend}")


@queue.task(name="send_cpanel_password_email", queue="mail", retry=_until_done())
def send_cpanel_password_email(subscription_id: int, reset: int) -> bool:
    """The new password comes from the stack's secret outputs at send time, like the welcome's."""
    from app import mail
    from app.services.hosting.engine import stack_operations

    outputs = stack_operations(settings()).outputs(subscription_id)
    return mail.send_cpanel_password(settings(), subscription_id, reset, outputs)


@queue.task(name="send_attention_alert", queue="mail", retry=_until_done())
def send_attention_alert(subscription_id: int) -> bool:
    from app import mail

    return mail.send_attention_alert(settings(), subscription_id)


@queue.task(name="send_lifecycle_email", queue="mail", retry=_until_done())
def send_lifecycle_email(subscription_id: int, kind: str) -> bool:
    from app import mail

    return mail.send_lifecycle(settings(), subscription_id, kind)


@queue.task(name="send_account_email", queue="mail", retry=_until_done())
def send_account_email(token_id: int) -> bool:
    """A password-reset or email-change link: only the row id travels, never the token."""
    from app.services.customers.customer_account import send_link_email

    return send_link_email(settings(), token_id)


# --- sweeps ----------------------------------------------------------------------------------

@queue.periodic(cron="17 3 * * *")
@queue.task(name="nightly_drift_check", queue="maintenance")
def nightly_drift_check(timestamp: int) -> int:
    """Refresh + preview every provisioned stack; drift is recorded on its run."""
    from app.services.sweeps import check_drift_everywhere

    return check_drift_everywhere(settings())


@queue.periodic(cron="29 3 * * *")
@queue.task(name="sync_registrar", queue="maintenance")
def sync_registrar(timestamp: int) -> int:
    """Expiry, status and nameservers of every registration from the registrar; drift to the operators."""
    from app.services.domains.registrar_sync import sync_registrations

    return len(sync_registrations(settings()).drifted)


@queue.periodic(cron="41 4 * * *")
@queue.task(name="renew_certificates", queue="maintenance")
def renew_certificates(timestamp: int) -> int:
    from app.services.sweeps import renew_due_certificates

    return renew_due_certificates(settings())


@queue.periodic(cron="* * * * *")
@queue.task(name="retry_stalled_jobs", queue="maintenance")
async def retry_stalled_jobs(timestamp: int) -> int:
    """A worker killed mid-run leaves its job `doing` (and its lock held): hand it back to the queue.

    The next run recovers the stack itself (stacks.operations.StackOperations.recover).
    """
    from app.services.hosting.workers import hand_back_stuck_jobs

    stalled = list(await queue.job_manager.get_stalled_jobs(seconds_since_heartbeat=60))
    for job in stalled:
        log.warning("retrying stalled job %s (%s)", job.id, job.task_name)
        await queue.job_manager.retry_job(job)
    # A job whose end was never recorded although its worker lives on (dropped connection).
    return len(stalled) + hand_back_stuck_jobs(settings())


@queue.periodic(cron="23 * * * *")
@queue.task(name="abandon_expired_checkouts", queue="maintenance")
def abandon_expired_checkouts(timestamp: int) -> int:
    from app.services.orders.checkout import abandon_interrupted_checkouts
    from app.services.sweeps import abandon_expired_checkouts as sweep

    # Also the orders whose checkout died before recording its Stripe session (never payable).
    return sweep(settings()) + abandon_interrupted_checkouts(settings())


@queue.periodic(cron="*/5 * * * *")
@queue.task(name="process_unprocessed_stripe_events", queue="maintenance")
def process_unprocessed_stripe_events(timestamp: int) -> int:
    from app.services.sweeps import process_unprocessed_stripe_events as sweep

    return sweep(settings())


@queue.periodic(cron="*/5 * * * *")
@queue.task(name="converge_stragglers", queue="maintenance")
def converge_stragglers(timestamp: int) -> int:
    from app.services.sweeps import converge_stragglers as sweep

    return sweep(settings())


@queue.periodic(cron="* * * * *")
@queue.task(name="place_waiting_orders", queue="maintenance")
def place_waiting_orders(timestamp: int) -> int:
    """Orders waiting for capacity go on a server as soon as one has room (app/services/hosting/placement.py)."""
    from app.services.hosting.placement import place_waiting_orders as sweep

    return sweep(settings())


@queue.periodic(cron="*/10 * * * *")
@queue.task(name="move_off_draining_servers", queue="maintenance")
def move_off_draining_servers(timestamp: int) -> int:
    """Draining servers with a pace have their accounts moved away, that many per hour
    (app/services/hosting/moves.py)."""
    from app.services.hosting.moves import move_off_draining_servers as sweep

    return sweep(settings())


@queue.periodic(cron="53 2 * * *")
@queue.task(name="remove_old_records", queue="maintenance")
def remove_old_records(timestamp: int) -> dict:
    """Finished jobs, engine events and processed Stripe events past MPANEL_RETENTION_DAYS go; runs stay."""
    from app.services.retention import remove_old_records as remove

    return remove(settings())
