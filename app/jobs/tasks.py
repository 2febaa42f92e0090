"""The queue's tasks: each one calls a service (no SQL here) and declares its policy.

Names and queues come from app/jobs/defer.py, where the request functions services call
spell them too (the periodic sweeps, asked for by the worker's clock only, are named here).
The settings every task runs with are the ones the process configured the queue with
(app/jobs/queue.py). The services are imported at the top: this module is loaded only when
a process configures its queue (the web app, whose views import the same services anyway,
and the worker, which runs them).
"""
from __future__ import annotations

import asyncio
import functools
import logging

from app import mail
from app.jobs.defer import (BILLING, CHECK_DRIFT, CONVERGE_SUBSCRIPTION, MAINTENANCE, PROCESS_STRIPE_EVENT,
                            RESEND_WELCOME_EMAIL, SEND_ACCOUNT_EMAIL, SEND_ATTENTION_ALERT, SEND_CPANEL_PASSWORD_EMAIL,
                            SEND_DUE_NOTICES, SEND_EMAIL_CHANGED_NOTICE, SEND_LIFECYCLE_EMAIL,
                            SEND_PAYMENT_FAILED_NOTICE, SEND_STAFF_PASSWORD_LINK, SEND_WELCOME_EMAIL, Job)
from app.jobs.queue import queue, settings
from app.jobs.retry import CappedBackoff
from app.mail import notices as customer_notices
from app.observe import logs
from app.services import notices, overdue, retention, sweeps
from app.services.customers import customer_account
from app.services.domains import proof
from app.services.domains.registrar_sync import sync_registrations
from app.services.hosting import moves, placement, welcome_logins
from app.services.hosting.converge import Converger
from app.services.hosting.engine import stack_operations
from app.services.hosting.errors import TransientConvergeError
from app.services.hosting.stalled_jobs import hand_back_stalled_jobs
from app.services.hosting.workers import hand_back_stuck_jobs
from app.services.operators import staff
from app.services.orders import checkout, lifecycle

log = logging.getLogger("mpanel.jobs")


def requested(job: Job, **policy):
    """The task services ask for as `job` (its name and queue as app/jobs/defer.py spells them).
    Every line it logs carries the job's id and the subscription or Stripe event it is about."""
    wants_context = policy.pop("pass_context", False)

    def decorate(fn):
        @functools.wraps(fn)
        def traced(context, *args, **kwargs):
            with logs.about(job=context.job.id, subscription=kwargs.get("subscription_id"),
                            stripe_event=kwargs.get("event_id")):
                return fn(context, *args, **kwargs) if wants_context else fn(*args, **kwargs)
        return queue.task(name=job.task, queue=job.queue, pass_context=True, **policy)(traced)
    return decorate


def _transient_only() -> CappedBackoff:
    """A converge is retried for as long as its failure is transient (an outage ends); a
    permanent one is on the subscription for a person to act on."""
    return CappedBackoff(first=4, cap=3600, retry_exceptions={TransientConvergeError})


def _until_done() -> CappedBackoff:
    """Emails and billing events are owed until they are done: retried, at most an hour apart,
    unless what they are about no longer exists."""
    return CappedBackoff(first=5, cap=3600, never_retry={mail.UnknownSubscription})


# --- stacks ----------------------------------------------------------------------------------

@requested(CONVERGE_SUBSCRIPTION, retry=_transient_only(), pass_context=True)
def converge_subscription(context, subscription_id: int, force: bool = False) -> str:
    """Make one subscription match its desired state. The emails a successful run owes
    (welcome, a new cPanel password) are queued in the same transaction that records it.
    The run records this job, so a sweep can hand it back if its worker dies (app/services/hosting/workers.py).
    Nothing changed since the last successful run: no engine run, unless `force` (an operator asked)."""
    outcome = Converger(settings(), job_id=context.job.id).converge(subscription_id, force=force)
    log.info("subscription %s: %s", subscription_id, outcome)
    return outcome


@requested(CHECK_DRIFT, retry=_transient_only(), pass_context=True)
def check_drift(context, subscription_id: int) -> bool:
    return Converger(settings(), job_id=context.job.id).check_drift(subscription_id)


# --- billing ---------------------------------------------------------------------------------

def _a_few_quick_tries() -> CappedBackoff:
    """A job waiting to retry holds its customer's billing lane (app/jobs/defer.py billing_lock):
    an event that keeps failing must not stall that customer's later events for long. It gets a
    few quick tries; after that the sweep of unprocessed events (app/services/sweeps.py) asks
    again every few minutes, for as long as it stays unprocessed, while the other events go
    through."""
    return CappedBackoff(first=2, cap=30, max_attempts=3)


@requested(PROCESS_STRIPE_EVENT, retry=_a_few_quick_tries())
def process_stripe_event(event_id: str) -> None:
    """A customer's billing decisions are serialised (its lane's lock, set where the job is
    deferred): each is a short transaction, and one at a time makes "re-read from Stripe, then
    apply" race-free.
    The converges and notices it decides are queued inside that transaction."""
    lifecycle.process_event(settings(), event_id)


@queue.periodic(cron="* * * * *")
@queue.task(name="enforce_billing_deadlines", queue=BILLING)
def enforce_billing_deadlines(timestamp: int) -> None:
    """Suspend past-due accounts whose grace period is over; terminate canceled ones past retention."""
    lifecycle.enforce_billing_deadlines(settings())


# --- mail ------------------------------------------------------------------------------------

@requested(SEND_WELCOME_EMAIL, retry=_until_done())
def send_welcome_email(subscription_id: int) -> bool:
    """Exactly once per subscription (app.mail records it); the passwords are the stack's
    secret outputs, as the run that made them kept them sealed (welcome_logins), then forgotten."""
    if not mail.welcome_owed(settings(), subscription_id):
        log.info("welcome for subscription %s: its hosting was destroyed before it went out; not sent",
                 subscription_id)
        welcome_logins.forget(settings(), subscription_id)
        return False
    sent = mail.send_welcome(settings(), subscription_id, welcome_logins.logins(settings(), subscription_id))
    welcome_logins.forget(settings(), subscription_id)
    return sent


@requested(RESEND_WELCOME_EMAIL, retry=_until_done())
def resend_welcome_email(subscription_id: int, resend: int) -> bool:
    """An operator's resend from the console: once per resend number."""
    outputs = stack_operations(settings()).outputs(subscription_id)
    return mail.send_welcome(settings(), subscription_id, outputs,
                             dedupe_key=f"{mail.welcome_key(subscription_id)}:resend:{resend}")


@requested(SEND_CPANEL_PASSWORD_EMAIL, retry=_until_done())
def send_cpanel_password_email(subscription_id: int, reset: int) -> bool:
    """The new password comes from the stack's secret outputs at send time, like the welcome's."""
    outputs = stack_operations(settings()).outputs(subscription_id)
    return mail.send_cpanel_password(settings(), subscription_id, reset, outputs)


@requested(SEND_ATTENTION_ALERT, retry=_until_done())
def send_attention_alert(subscription_id: int) -> bool:
    return mail.send_attention_alert(settings(), subscription_id)


@requested(SEND_LIFECYCLE_EMAIL, retry=_until_done())
def send_lifecycle_email(subscription_id: int, kind: str) -> bool:
    return mail.send_lifecycle(settings(), subscription_id, kind)


@requested(SEND_PAYMENT_FAILED_NOTICE, retry=_until_done())
def send_payment_failed_notice(subscription_id: int) -> bool:
    """At once after a failed renewal payment: amount, Stripe's reason, the link to pay, the suspension date."""
    return customer_notices.send_payment_failed(settings(), subscription_id)


@queue.periodic(cron="37 * * * *")
@requested(SEND_DUE_NOTICES)
def send_due_notices(timestamp: int) -> dict:
    """Payment reminders, warnings before removal, domain expiry reminders (app/services/notices.py)."""
    return vars(notices.send_due_notices(settings()))


@requested(SEND_ACCOUNT_EMAIL, retry=_until_done())
def send_account_email(token_id: int) -> bool:
    """A password-reset or email-change link: only the row id travels, never the token."""
    return customer_account.send_link_email(settings(), token_id)


@requested(SEND_EMAIL_CHANGED_NOTICE, retry=_until_done())
def send_email_changed_notice(token_id: int) -> bool:
    """The address an email change replaced is told, once, with a way to secure the account."""
    return customer_account.send_email_changed_notice(settings(), token_id)


@requested(SEND_STAFF_PASSWORD_LINK, retry=_until_done())
def send_staff_password_link(token_hash: str) -> bool:
    """A new staff member's set-password link, mailed once by the console's add."""
    return staff.send_password_link(settings(), token_hash)


# --- sweeps ----------------------------------------------------------------------------------

@queue.periodic(cron="17 3 * * *")
@queue.task(name="nightly_drift_check", queue=MAINTENANCE)
def nightly_drift_check(timestamp: int) -> int:
    """Refresh + preview every provisioned stack; drift is recorded on its run."""
    return sweeps.check_drift_everywhere(settings())


@queue.periodic(cron="29 3 * * *")
@queue.task(name="sync_registrar", queue=MAINTENANCE)
def sync_registrar(timestamp: int) -> int:
    """Expiry, status and nameservers of every registration from the registrar; drift to the operators."""
    return len(sync_registrations(settings()).drifted)


@queue.periodic(cron="41 4 * * *")
@queue.task(name="renew_certificates", queue=MAINTENANCE)
def renew_certificates(timestamp: int) -> int:
    return sweeps.renew_due_certificates(settings())


@queue.periodic(cron="* * * * *")
@queue.task(name="retry_stalled_jobs", queue=MAINTENANCE)
async def retry_stalled_jobs(timestamp: int) -> int:
    """A worker killed mid-run leaves its job `doing` (and its lock held): hand it back to the queue.

    The next run recovers the stack itself (stacks.operations.StackOperations.recover).
    """
    stalled = [job.id for job in await queue.job_manager.get_stalled_jobs(seconds_since_heartbeat=60)]
    # Each job on its own (app/services/hosting/stalled_jobs.py): one that cannot be handed back must
    # not keep the others, nor the stuck billing and mail jobs below, waiting.
    handed = await asyncio.to_thread(hand_back_stalled_jobs, settings(), stalled)
    # A job whose end was never recorded although its worker lives on (dropped connection).
    return handed + await asyncio.to_thread(hand_back_stuck_jobs, settings())


@queue.periodic(cron="* * * * *")
@queue.task(name="raise_overdue_attention", queue=MAINTENANCE)
def raise_overdue_attention(timestamp: int) -> int:
    """Nothing owed stays silent: late welcome emails, jobs and events, failing sweeps (app/services/overdue.py)."""
    return overdue.raise_overdue(settings())


@queue.periodic(cron="*/5 * * * *")
@queue.task(name="abandon_expired_checkouts", queue=MAINTENANCE)
def abandon_expired_checkouts(timestamp: int) -> int:
    # Also the orders whose checkout died before recording its Stripe session (never payable).
    return sweeps.abandon_expired_checkouts(settings()) + checkout.abandon_interrupted_checkouts(settings())


@queue.periodic(cron="*/5 * * * *")
@queue.task(name="process_unprocessed_stripe_events", queue=MAINTENANCE)
def process_unprocessed_stripe_events(timestamp: int) -> int:
    return sweeps.process_unprocessed_stripe_events(settings())


@queue.periodic(cron="*/10 * * * *")
@queue.task(name="check_domain_control", queue=MAINTENANCE)
def check_domain_control(timestamp: int) -> int:
    """External and transfer domains waiting for proof of control are checked (app/services/domains/proof.py)."""
    return proof.check_unproven_domains(settings())


@queue.periodic(cron="*/5 * * * *")
@queue.task(name="converge_stragglers", queue=MAINTENANCE)
def converge_stragglers(timestamp: int) -> int:
    return sweeps.converge_stragglers(settings())


@queue.periodic(cron="* * * * *")
@queue.task(name="place_waiting_orders", queue=MAINTENANCE)
def place_waiting_orders(timestamp: int) -> int:
    """Orders waiting for capacity go on a server as soon as one has room (app/services/hosting/placement.py)."""
    return placement.place_waiting_orders(settings())


@queue.periodic(cron="*/10 * * * *")
@queue.task(name="move_off_draining_servers", queue=MAINTENANCE)
def move_off_draining_servers(timestamp: int) -> int:
    """Draining servers with a pace have their accounts moved away, that many per hour
    (app/services/hosting/moves.py)."""
    return moves.move_off_draining_servers(settings())


@queue.periodic(cron="53 2 * * *")
@queue.task(name="remove_old_records", queue=MAINTENANCE)
def remove_old_records(timestamp: int) -> dict:
    """Finished jobs, engine events and processed Stripe events past MPANEL_RETENTION_DAYS go; runs stay."""
    return retention.remove_old_records(settings())


@queue.periodic(cron="7 4 * * *")
@queue.task(name="prune_stack_history", queue=MAINTENANCE)
def prune_stack_history(timestamp: int) -> dict:
    """Each stack's Pulumi history to its last MPANEL_HISTORY_KEEP updates and MPANEL_HISTORY_DAYS
    days (stacks/history.py); our runs keep their summary forever."""
    return retention.prune_stack_history(settings())
