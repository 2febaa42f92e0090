"""The job queue (procrastinate, in the application's PostgreSQL) and its tasks.

Job policy lives on the defer call and the decorators:
- `lock=sub-<id>`: never two operations on one subscription's stack at once;
- `queueing_lock=sub-<id>`: at most one waiting converge per subscription, so a burst
  of webhooks collapses into one run (the run reads the latest desired state anyway);
- retries with exponential backoff for transient failures only.
"""
from __future__ import annotations

import logging

import procrastinate
from procrastinate import RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued

from app.services.errors import TransientConvergeError
from app.settings import Settings

log = logging.getLogger("mpanel.queue")

queue = procrastinate.App(
    connector=procrastinate.PsycopgConnector(conninfo=Settings.from_env().DATABASE_URL, min_size=1, max_size=4),
    import_paths=["app.jobs.queue"],
)

def _settings() -> Settings:
    return Settings.from_env()


def subscription_lock(subscription_id: int) -> str:
    return f"sub-{subscription_id}"


def _transient_only() -> RetryStrategy:
    return RetryStrategy(max_attempts=8, exponential_wait=2, retry_exceptions={TransientConvergeError})


@queue.task(name="converge_subscription", queue="converge", retry=_transient_only())
def converge_subscription(subscription_id: int) -> str:
    from app.services.converge import Converger

    outcome = Converger(_settings()).converge(subscription_id)
    log.info("subscription %s: %s", subscription_id, outcome)
    if outcome == "up" and not _welcome_sent(subscription_id):
        # Welcome once, after the first successful provisioning (the send is deduplicated by record).
        _defer_once(send_welcome_email, f"welcome-{subscription_id}", subscription_id=subscription_id)
    if outcome == "up":
        reset = _cpanel_password_to_send(subscription_id)
        if reset:
            _defer_once(send_cpanel_password_email, f"cpanel-password-{subscription_id}-{reset}",
                        subscription_id=subscription_id, reset=reset)
    return outcome


@queue.task(name="check_drift", queue="converge", retry=_transient_only())
def check_drift(subscription_id: int) -> bool:
    from app.services.converge import Converger

    return Converger(_settings()).check_drift(subscription_id)


@queue.task(name="process_stripe_event", queue="billing", retry=RetryStrategy(max_attempts=10, exponential_wait=2))
def process_stripe_event(event_id: str) -> None:
    """Billing decisions are serialised (lock "billing"): each is a short transaction, and
    one at a time makes "re-read from Stripe, then apply" race-free."""
    from app.services.lifecycle import process_event

    carry_out(process_event(_settings(), event_id))


def request_event_processing(event_id: str) -> None:
    try:
        process_stripe_event.configure(lock="billing", queueing_lock=f"evt-{event_id}").defer(event_id=event_id)
    except AlreadyEnqueued:
        pass


def carry_out(outcome) -> None:
    """After a lifecycle transaction commits: converge what changed, queue the emails it decided."""
    for sid in sorted(outcome.converge):
        request_converge(sid)
    for sid, kind in outcome.emails:
        _defer_once(send_lifecycle_email, f"mail-{kind}-{sid}", subscription_id=sid, kind=kind)


def _defer_once(task, queueing_lock: str, **kwargs) -> bool:
    try:
        task.configure(queueing_lock=queueing_lock).defer(**kwargs)
        return True
    except AlreadyEnqueued:
        return False


def _welcome_sent(subscription_id: int) -> bool:
    from app import db
    from app.mail import welcome_key

    with db.transaction(_settings().DATABASE_URL) as conn:
        return conn.execute("SELECT 1 FROM emails_sent WHERE dedupe_key = %s",
                            (welcome_key(subscription_id),)).fetchone() is not None


@queue.task(name="send_welcome_email", queue="mail", retry=RetryStrategy(max_attempts=10, exponential_wait=5))
def send_welcome_email(subscription_id: int) -> bool:
    """Exactly once per subscription (app.mail records it); the passwords come from the
    stack's secret outputs at send time and exist nowhere else."""
    from app import mail
    from app.services.engine import stack_operations

    settings = _settings()
    return mail.send_welcome(settings, subscription_id, stack_operations(settings).outputs(subscription_id))


def _cpanel_password_to_send(subscription_id: int) -> int:
    """The customer's latest password reset that a converge applied and nobody emailed yet (0: none)."""
    from app import db
    from app.mail import cpanel_password_key

    with db.transaction(_settings().DATABASE_URL) as conn:
        row = conn.execute("SELECT cpanel_password_applied AS n FROM websites WHERE subscription_id = %s",
                           (subscription_id,)).fetchone()
        if not row or not row["n"]:
            return 0
        sent = conn.execute("SELECT 1 FROM emails_sent WHERE dedupe_key = %s",
                            (cpanel_password_key(subscription_id, row["n"]),)).fetchone()
    return 0 if sent else row["n"]


@queue.task(name="send_cpanel_password_email", queue="mail", retry=RetryStrategy(max_attempts=10, exponential_wait=5))
def send_cpanel_password_email(subscription_id: int, reset: int) -> bool:
    """The new password comes from the stack's secret outputs at send time, like the welcome's."""
    from app import mail
    from app.services.engine import stack_operations

    settings = _settings()
    outputs = stack_operations(settings).outputs(subscription_id)
    return mail.send_cpanel_password(settings, subscription_id, reset, outputs)


@queue.task(name="send_lifecycle_email", queue="mail", retry=RetryStrategy(max_attempts=10, exponential_wait=5))
def send_lifecycle_email(subscription_id: int, kind: str) -> bool:
    from app import mail

    return mail.send_lifecycle(_settings(), subscription_id, kind)


@queue.periodic(cron="* * * * *")
@queue.task(name="enforce_billing_deadlines", queue="billing")
def enforce_billing_deadlines(timestamp: int) -> None:
    """Suspend past-due accounts whose grace period is over; terminate canceled ones past retention."""
    from app import db
    from app.services.lifecycle import Outcome, enforce_deadlines

    outcome = Outcome()
    with db.transaction(_settings().DATABASE_URL) as conn:
        enforce_deadlines(conn, _settings(), outcome)
    carry_out(outcome)


def request_converge(subscription_id: int) -> bool:
    """Ask the worker to look at this subscription again; False when a run is already waiting."""
    lock = subscription_lock(subscription_id)
    try:
        converge_subscription.configure(lock=lock, queueing_lock=lock).defer(subscription_id=subscription_id)
        return True
    except AlreadyEnqueued:
        return False


def _provisioned_subscriptions(condition: str = "TRUE") -> list[int]:
    from app import db

    with db.transaction(_settings().DATABASE_URL) as conn:
        rows = conn.execute(
            "SELECT s.id FROM subscriptions s LEFT JOIN websites w ON w.subscription_id = s.id "
            f"WHERE s.provisioning_status = 'ready' AND ({condition}) ORDER BY s.id").fetchall()
    return [r["id"] for r in rows]


@queue.periodic(cron="17 3 * * *")
@queue.task(name="nightly_drift_check", queue="maintenance")
def nightly_drift_check(timestamp: int) -> int:
    """Refresh + preview every provisioned stack; drift is recorded on its run."""
    ids = _provisioned_subscriptions()
    for sid in ids:
        lock = subscription_lock(sid)
        try:
            check_drift.configure(lock=lock, queueing_lock=f"drift-{sid}").defer(subscription_id=sid)
        except AlreadyEnqueued:
            pass
    return len(ids)


@queue.periodic(cron="41 4 * * *")
@queue.task(name="renew_certificates", queue="maintenance")
def renew_certificates(timestamp: int) -> int:
    """Converge every subscription whose certificate is inside its renewal window.

    The certificate provider's diff replaces a certificate within 30 days of expiry,
    so an ordinary `up` renews it and installs the new one on the account.
    """
    ids = _provisioned_subscriptions("w.ssl_expires_at < now() + interval '30 days'")
    for sid in ids:
        request_converge(sid)
    return len(ids)


@queue.periodic(cron="* * * * *")
@queue.task(name="retry_stalled_jobs", queue="maintenance")
async def retry_stalled_jobs(timestamp: int) -> int:
    """A worker killed mid-run leaves its job `doing` (and its lock held): hand it back to the queue.

    The next run recovers the stack itself (stacks.operations.StackOperations.recover).
    """
    stalled = list(await queue.job_manager.get_stalled_jobs(seconds_since_heartbeat=60))
    for job in stalled:
        log.warning("retrying stalled job %s (%s)", job.id, job.task_name)
        await queue.job_manager.retry_job(job)
    return len(stalled)


@queue.periodic(cron="23 * * * *")
@queue.task(name="abandon_expired_checkouts", queue="maintenance")
def abandon_expired_checkouts(timestamp: int) -> int:
    """Stripe closes an unpaid checkout after 24 h and says so with checkout.session.expired;
    should that event never arrive (endpoint not subscribed to it, delivery given up), the
    order is found here, so its domain does not stay held forever."""
    from app import db
    from app.services.lifecycle import abandon_expired_checkout

    settings = _settings()
    with db.transaction(settings.DATABASE_URL) as conn:
        rows = conn.execute("SELECT stripe_checkout_session_id AS session_id FROM subscriptions "
                            "WHERE status = 'pending_payment' AND stripe_checkout_session_id IS NOT NULL "
                            "AND created_at < now() - interval '25 hours' ORDER BY id").fetchall()
    abandoned = 0
    for row in rows:
        try:
            with db.transaction(settings.DATABASE_URL) as conn:
                abandoned += abandon_expired_checkout(conn, settings, row["session_id"])
        except Exception:  # one unreadable session must not stop the sweep
            log.exception("could not check checkout session %s", row["session_id"])
    return abandoned


@queue.periodic(cron="*/5 * * * *")
@queue.task(name="converge_stragglers", queue="maintenance")
def converge_stragglers(timestamp: int) -> int:
    """Desired state that no run has acted on: a paid order never converged, a terminated one
    not destroyed (an enqueue lost after its transaction committed). Ask again; harmless if a
    run is already waiting (queueing lock)."""
    from app import db

    with db.transaction(_settings().DATABASE_URL) as conn:
        rows = conn.execute(
            """SELECT id FROM subscriptions
                WHERE updated_at < now() - interval '2 minutes'
                  AND (stripe_subscription_id IS NOT NULL OR test_mode)  -- paid, by our own records
                  AND ((status IN ('active', 'past_due', 'suspended', 'canceled')
                        AND provisioning_status = 'pending')
                    OR (status = 'terminated' AND provisioning_status NOT IN ('pending', 'destroyed', 'failed')))
             """).fetchall()
    for row in rows:
        request_converge(row["id"])
    return len(rows)
