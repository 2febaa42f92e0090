"""Converging one subscription: desired state in, engine run, outcome written back.

Called by the queue's `converge_subscription` task (never from a web request). A run has
three parts, each in one place: `_start` records it and takes over a dead worker's run
(app/db/hosting/runs.py `begin`); the engine operation (stacks/operations.py) runs outside
any transaction and answers with a typed outcome (stacks/outcome.py: this module reads no
engine text); `_finish` records that outcome on the run and the subscription's rows, with
the emails a success owes and the operators' flag a failure raises, in one transaction.
While the engine runs, every resource step is written to provisioning_events as it happens,
so the customer's status page and the ops CLI show progress live.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from app import db
from app.db import emails
from app.db.hosting import runs
from app.jobs.defer import request_attention_alert, request_cpanel_password_email, request_welcome_email
from app.mail import cpanel_password_key, welcome_key
from app.observe import logs, metrics
from app.services.hosting.account_backups import back_up_account, restore_taken_back
from app.services.hosting.engine import stack_operations
from app.services.hosting.errors import PermanentConvergeError, TransientConvergeError
from app.services.hosting import moves, placement, welcome_logins
from app.services.hosting.mailboxes import passwords_applied
from app.services.hosting.nothing_to_do import already_applied, desired_digest
from app.services.hosting.specs import build_spec
from app.services.hosting.whm_suspensions import follow_whm
from app.services.hosting.workers import heartbeat
from app.settings import Settings
from stacks.events import Step, StepRecorder
from stacks.operations import StackOperations
from stacks.outcome import DriftChecked, Failed, Outcome, Succeeded
from stacks.spec import HostingSpec, SpecError

log = logging.getLogger("mpanel.converge")


NOTHING_TO_DO = "nothing to do"  # the desired state already applied: no engine run


@dataclass
class Run:
    id: int
    subscription_id: int
    converging: bool  # up or destroy: its outcome is the subscription's (a drift check only observes)
    recorder: StepRecorder
    after_a_dead_run: bool = False  # an earlier run on this stack never finished: repair first
    operation: str = "up"
    started: float = field(default_factory=time.monotonic)


class Converger:
    def __init__(self, settings: Settings, operations: StackOperations | None = None, job_id: int | None = None,
                 on_step: Callable[[Step], None] | None = None):
        self.settings = settings
        self.ops = operations or stack_operations(settings)
        self.job_id = job_id  # the queue job running this converge (None: an operator's command)
        self.on_step = on_step  # told each step after it is recorded (the CLI prints them)

    # --- the one entry point -----------------------------------------------------------
    def converge(self, subscription_id: int, force: bool = False) -> str:
        """Make subscription `subscription_id` match its desired state; return what was done.
        `force` (an operator's request): run the engine even when nothing changed."""
        # What the run's log lines are about (its id, the order) stays inside this call.
        with logs.about(subscription=subscription_id):
            return self._converge(subscription_id, force)

    def _converge(self, subscription_id: int, force: bool) -> str:
        with db.transaction(self.settings.DATABASE_URL) as conn:
            row = runs.billing_state(conn, subscription_id)
        if row is None:
            raise PermanentConvergeError(f"subscription {subscription_id} does not exist")
        if row["status"] == "pending_payment":
            return "waiting for payment"
        if row["status"] == "abandoned":
            return "never paid: nothing to build"
        # The engine runs outside any database transaction (a run takes seconds).
        if row["status"] != "terminated":
            # Placed on a server once, when first converged after payment (app/services/hosting/placement.py).
            with db.transaction(self.settings.DATABASE_URL) as conn:
                if placement.place(conn, subscription_id, self.settings.DEFAULT_WEB_SERVER_ID) is None:
                    return "waiting for capacity"
            # A suspension made or lifted on WHM by someone else is recorded first, so this run keeps it.
            follow_whm(self.settings, subscription_id)
            # A move to another server asked for (app/services/hosting/moves.py): copy, switch, remove the source.
            moved = moves.carry_out(self.settings, subscription_id, lambda: self._up(self._spec(subscription_id)))
            if moved is not None:
                return moved
            # A canceled subscription's account is suspended by this run, then backed up while
            # it is retained (architecture decision 6).
            spec = self._spec(subscription_id)
            if not force and self._nothing_to_do(spec):
                return NOTHING_TO_DO
            return self._up(spec, back_up=row["status"] == "canceled")
        if row["provisioning_status"] in ("destroyed", "pending"):
            return "nothing to destroy"
        return self._destroy(subscription_id)

    # --- a run: start, the engine, finish ------------------------------------------------
    def _start(self, subscription_id: int, operation: str, provisioning_status: str | None = None) -> Run:
        """Record the run (the job and this process's liveness with it) and take over a dead one."""
        worker_id = heartbeat(self.settings)
        with db.transaction(self.settings.DATABASE_URL) as conn:
            run_id, repair = runs.begin(
                conn, subscription_id, operation, host=socket.gethostname(), pid=os.getpid(), worker_id=worker_id,
                job_id=self.job_id, dead_after=self.settings.MPANEL_WORKER_DEAD_AFTER_SECONDS,
                provisioning_status=provisioning_status, website_provisioning=operation == "up")
        run = Run(run_id, subscription_id, operation != "refresh", StepRecorder(), after_a_dead_run=repair,
                  operation=operation)
        run.recorder.sink = self._step_sink(run)
        logs.tag(subscription=subscription_id, run=run_id)
        log.info("provisioning run %s: %s started%s", run_id, operation,
                 " (repairing an unfinished run first)" if repair else "")
        return run

    def _step_sink(self, run: Run):
        def record(step: dict[str, Any]) -> None:
            with db.transaction(self.settings.DATABASE_URL) as conn:
                runs.record_step(conn, run.id, run.subscription_id, step)
            if self.on_step:
                self.on_step(step)
        return record

    def _lock_holder_gone(self, run: Run):
        """For the engine, finding the stack locked: the lock is stale when no other run of this
        stack has a live worker (ours is the one running; a dead one's lock is ours to clear)."""
        def gone(_message: str) -> bool:
            with db.transaction(self.settings.DATABASE_URL) as conn:
                return not runs.others_alive(conn, run.subscription_id, run.id,
                                             self.settings.MPANEL_WORKER_DEAD_AFTER_SECONDS)
        return gone

    def _engine(self, run: Run) -> dict[str, Any]:
        """What every engine operation of a run is given: its recorder, and the run's records."""
        return {"repair": run.after_a_dead_run, "lock_holder_gone": self._lock_holder_gone(run)}

    def _finish(self, run: Run, outcome: Outcome, record: Callable[[Any, Any], None]) -> None:
        """The outcome on the run and the subscription, in one transaction: `record(conn, outcome)`
        writes a success; a failure is recorded and raised as what the queue retries on (or not)."""
        with db.transaction(self.settings.DATABASE_URL) as conn:
            if not isinstance(outcome, Failed):
                record(conn, outcome)
            elif runs.failed(conn, run.id, run.subscription_id, outcome.reason, outcome.transient,
                             self.settings.MPANEL_ATTENTION_AFTER_FAILURES if run.converging else None):
                request_attention_alert(conn, run.subscription_id)
        result = ("succeeded" if not isinstance(outcome, Failed) else
                  "transient" if outcome.transient else "permanent")
        took = time.monotonic() - run.started
        metrics.converge_finished(run.operation, result, took)
        (log.info if result == "succeeded" else log.warning)(
            "provisioning run %s: %s %s in %.1fs%s", run.id, run.operation, result, took,
            "" if result == "succeeded" else f": {outcome.reason}")
        if isinstance(outcome, Failed):
            error = TransientConvergeError if outcome.transient else PermanentConvergeError
            raise error(outcome.reason) from outcome.cause

    def _spec(self, subscription_id: int) -> HostingSpec:
        with db.transaction(self.settings.DATABASE_URL) as conn:
            try:
                return build_spec(conn, subscription_id, self.settings)
            except SpecError as exc:
                raise PermanentConvergeError(str(exc)) from exc

    # --- the operations ------------------------------------------------------------------
    def _up(self, spec: HostingSpec, back_up: bool = False) -> str:
        sid = spec.subscription_id
        logs.tag(order=spec.domain)
        run = self._start(sid, "up", "provisioning")

        def after_up(outputs: dict[str, Any]) -> None:
            if back_up:
                back_up_account(self.settings, sid)
            if not spec.converged_before:  # a returning customer's order: their terminated order's backup
                # Into the account this run made: its name is recorded only once the run has succeeded.
                restore_taken_back(self.settings, sid, username=outputs.get("cpanel_username"))

        outcome = self.ops.converge(spec, run.recorder, **self._engine(run), then=after_up)

        def ready(conn, done: Succeeded) -> None:
            runs.succeeded(conn, run.id, sid, summary=done.changes)
            runs.record_applied(conn, run.id, desired_digest(spec))
            self._record_ready(conn, spec, done.outputs)
            self._queue_owed_emails(conn, spec, run.recorder.exported)
        self._finish(run, outcome, ready)
        return "up"

    def _nothing_to_do(self, spec: HostingSpec) -> bool:
        """The spec applied and the stack fresh (app/services/hosting/nothing_to_do.py): no engine
        run, no run row; the emails a success owes are still queued (their own records dedupe)."""
        with db.transaction(self.settings.DATABASE_URL) as conn:
            if not already_applied(conn, self.settings, spec, desired_digest(spec)):
                return False
            self._queue_owed_emails(conn, spec)
        return True

    def _record_ready(self, conn, spec: HostingSpec, outputs: dict[str, Any]) -> None:
        passwords_applied(conn, [(m.row_id, m.password_token) for m in spec.mailboxes if m.password_token])
        user = outputs.get("cpanel_username")
        runs.record_ready(
            conn, spec.subscription_id,
            website={"cpanel_username": user, "cpanel_url": outputs.get("cpanel_url"),
                     "document_root": f"{spec.site_home_root.rstrip('/')}/{user}/public_html",
                     "server_id": spec.server_id, "status": "suspended" if spec.suspended else "active",
                     "ssl_expires_at": outputs.get("certificate_not_after"),
                     "cpanel_password_applied": spec.cpanel_password_resets,
                     "ip_address": outputs.get("server_ip") or spec.server_ip},
            domain_status={"external": "external", "new_registration": "active"}.get(
                spec.domain_mode, "active" if outputs.get("registration_status") == "Active" else "transfer_pending"),
            nameservers=list(spec.nameservers),
            registrar=None if spec.domain_mode == "external" else "namesilo")

    def _queue_owed_emails(self, conn, spec: HostingSpec, exported: dict[str, Any] | None = None) -> None:
        """The welcome after the first successful run, and the password a reset asked for, queued
        in the transaction that records the run: a crash after it cannot lose them, and the
        send itself is deduplicated by record (app.mail). What this run's program exported goes
        with the welcome, sealed with MPANEL_ENCRYPTION_KEY, so the email does not wait for
        the CLI to read the stack's secrets again (app/services/hosting/welcome_logins.py)."""
        sid = spec.subscription_id
        # An imported customer was invited to set a panel password instead: their site, cPanel
        # login and mailboxes were theirs already, and we know none of the passwords.
        if not spec.imported and not emails.is_recorded(conn, welcome_key(sid)):
            if exported:
                welcome_logins.keep(conn, self.settings, sid, exported)
            request_welcome_email(conn, sid)
        reset = spec.cpanel_password_resets
        if reset and not emails.is_recorded(conn, cpanel_password_key(sid, reset)):
            request_cpanel_password_email(conn, sid, reset)

    def _destroy(self, subscription_id: int) -> str:
        run = self._start(subscription_id, "destroy", "destroying")
        # The last copy, taken before anything is deleted: if WHM cannot make it, nothing is
        # destroyed (the run fails and is retried).
        outcome = self.ops.tear_down(subscription_id, run.recorder, **self._engine(run),
                                     first=lambda: back_up_account(self.settings, subscription_id, reason="destroy"))

        def destroyed(conn, done: Succeeded) -> None:
            runs.succeeded(conn, run.id, subscription_id, summary=done.changes)
            runs.record_destroyed(conn, subscription_id)
        self._finish(run, outcome, destroyed)
        return "destroyed"

    def check_drift(self, subscription_id: int) -> bool:
        """Nightly: refresh (observe reality), then preview (what `up` would change)."""
        with logs.about(subscription=subscription_id):
            return self._check_drift(subscription_id)

    def _check_drift(self, subscription_id: int) -> bool:
        follow_whm(self.settings, subscription_id)  # WHM's own suspension is recorded, not reported as drift
        spec = self._spec(subscription_id)
        run = self._start(subscription_id, "refresh")
        outcome = self.ops.check_drift(spec, run.recorder, **self._engine(run))

        def observed(conn, found: DriftChecked) -> None:
            runs.finish(conn, run.id, "succeeded", drift=found.drift,
                        summary={"refresh": found.refreshed, "pending": found.pending, "steps": found.planned})
        self._finish(run, outcome, observed)
        return outcome.drift
