"""Converging one subscription: desired state in, engine run, outcome written back.

Called by the queue's `converge_subscription` task (never from a web request). The
whole outcome lands on the subscription, website, domain and zone rows (app/db/hosting/runs.py),
and every resource step is written to provisioning_events while the engine runs, so the
customer's status page and the ops CLI show progress live.
"""
from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from typing import Any

from app import db
from app.db import emails
from app.db.hosting import runs
from app.db.hosting import workers as liveness
from app.jobs.defer import defer_in
from app.mail import cpanel_password_key, welcome_key
from app.services.hosting.account_backups import back_up_account, restore_taken_back
from app.services.hosting.engine import stack_operations
from app.services.hosting.errors import PermanentConvergeError, TransientConvergeError
from app.services.hosting import moves, placement
from app.services.hosting.mailboxes import passwords_applied
from app.services.hosting.specs import build_spec
from app.services.hosting.workers import heartbeat
from app.settings import Settings
from providers.core.errors import errors_in
from stacks.events import StepRecorder
from stacks.operations import StackOperations
from stacks.spec import HostingSpec, SpecError

# Failures of our own making that no retry mends: a spec the program cannot build.
PERMANENT_ENGINE_FAILURES = (SpecError, TypeError, ValueError, KeyError, AttributeError)


def failure_reason(exc: Exception, diagnostics: list[str]) -> tuple[str, bool]:
    """The human reason for a failed run and whether it is worth retrying, decided from data:
    the first structured provider error the engine passed on (providers.core.errors), else
    the engine's own exception type. A failure no provider explained (the engine could not
    reach its backend, another run holds the stack) is retried rather than given up on."""
    found = errors_in("\n".join(diagnostics) + "\n" + str(exc))
    if found:
        return found[0].reason[:1000], found[0].retryable
    # The CLI's own failures read "code: N / stdout: ... / stderr: <what went wrong>".
    text = diagnostics[0] if diagnostics else str(exc).rpartition("stderr:")[2]
    first = [line.strip() for line in text.splitlines()
             if line.strip() and not GRPC_CORE_LOG.match(line.strip())] or [type(exc).__name__]
    return first[0][:1000], not isinstance(exc, PERMANENT_ENGINE_FAILURES)


# gRPC's C core logs to the CLI's stderr ("E1130 00:03:46.490845 4751 ev_epoll1_linux.cc:373] ...")
# when a peer process dies; `mpanel chaos` saw such a line become a run's reason. It never is one.
GRPC_CORE_LOG = re.compile(r"^[EWIF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w./-]+\.cc:\d+\]")


@dataclass
class Run:
    id: int
    subscription_id: int
    after_a_dead_run: bool = False  # an earlier run on this stack never finished: repair first


class Converger:
    def __init__(self, settings: Settings, operations: StackOperations | None = None, job_id: int | None = None):
        self.settings = settings
        self.ops = operations or stack_operations(settings)
        self.job_id = job_id  # the queue job running this converge (None: an operator's command)

    # --- bookkeeping -------------------------------------------------------------------
    def _start_run(self, subscription_id: int, operation: str, provisioning_status: str | None) -> Run:
        worker_id = heartbeat(self.settings)  # this process's liveness, which the run records
        with db.transaction(self.settings.DATABASE_URL) as conn:
            if provisioning_status:
                runs.set_provisioning_status(conn, subscription_id, provisioning_status)
            # A run still 'running' whose worker is dead (app/services/hosting/workers.py) died mid-way,
            # and so did one a sweep already marked interrupted; the engine may not notice what
            # it left (see StackOperations.up). A live one (an operator's CLI beside the worker)
            # is left alone.
            dead = [r["id"] for r in runs.running(conn, subscription_id)
                    if liveness.is_dead(conn, r["worker_id"], self.settings.MPANEL_WORKER_DEAD_AFTER_SECONDS)]
            repair = bool(dead) or runs.last_was_interrupted(conn, subscription_id)
            runs.mark_interrupted(conn, dead, why="its worker stopped before it finished")
            run_id = runs.start(conn, subscription_id, operation, socket.gethostname(), os.getpid(),
                                worker_id=worker_id, job_id=self.job_id)
        return Run(run_id, subscription_id, after_a_dead_run=repair)

    def _lock_holder_gone(self, run: Run):
        """For the engine, finding the stack locked: the lock is stale when no other run of this
        stack has a live worker (ours is the one running; a dead one's lock is ours to clear)."""
        def gone(_message: str) -> bool:
            with db.transaction(self.settings.DATABASE_URL) as conn:
                return all(liveness.is_dead(conn, r["worker_id"], self.settings.MPANEL_WORKER_DEAD_AFTER_SECONDS)
                           for r in runs.running(conn, run.subscription_id, but=run.id))
        return gone

    def _step_sink(self, run: Run):
        def record(step: dict[str, Any]) -> None:
            with db.transaction(self.settings.DATABASE_URL) as conn:
                runs.record_step(conn, run.id, run.subscription_id, step)
        return record

    def _fail(self, run: Run, exc: Exception, diagnostics: list[str]) -> None:
        """Record the run as failed, and on the subscription why; raise what the queue retries on."""
        reason, transient = failure_reason(exc, diagnostics)
        with db.transaction(self.settings.DATABASE_URL) as conn:
            runs.finish(conn, run.id, "failed", error=reason)
            if runs.record_failure(conn, run.subscription_id, reason, transient,
                                   self.settings.MPANEL_ATTENTION_AFTER_FAILURES):
                defer_in(conn, "send_attention_alert", "mail", {"subscription_id": run.subscription_id},
                         queueing_lock=f"attention-{run.subscription_id}")
        if transient:
            raise TransientConvergeError(reason) from exc
        raise PermanentConvergeError(reason) from exc

    def _spec(self, subscription_id: int) -> HostingSpec:
        with db.transaction(self.settings.DATABASE_URL) as conn:
            try:
                return build_spec(conn, subscription_id, self.settings)
            except SpecError as exc:
                raise PermanentConvergeError(str(exc)) from exc

    # --- the one entry point -----------------------------------------------------------
    def converge(self, subscription_id: int) -> str:
        """Make subscription `subscription_id` match its desired state; return what was done."""
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
            # A move to another server asked for (app/services/hosting/moves.py): copy, switch, remove the source.
            moved = moves.carry_out(self.settings, subscription_id, lambda: self._up(self._spec(subscription_id)))
            if moved is not None:
                return moved
            # A canceled subscription's account is suspended by this run, then backed up while
            # it is retained (architecture decision 6).
            return self._up(self._spec(subscription_id), back_up=row["status"] == "canceled")
        if row["provisioning_status"] in ("destroyed", "pending"):
            return "nothing to destroy"
        return self._destroy(subscription_id)

    def _up(self, spec: HostingSpec, back_up: bool = False) -> str:
        run = self._start_run(spec.subscription_id, "up", "provisioning")
        with db.transaction(self.settings.DATABASE_URL) as conn:
            runs.website_provisioning(conn, spec.subscription_id)
        recorder = StepRecorder(self._step_sink(run))
        try:
            result = self.ops.up(spec, recorder, refresh=spec.converged_before, repair=run.after_a_dead_run,
                                 lock_holder_gone=self._lock_holder_gone(run))
            if back_up:
                back_up_account(self.settings, spec.subscription_id)
            if not spec.converged_before:  # a returning customer's order: their terminated order's backup
                restore_taken_back(self.settings, spec.subscription_id)
        except Exception as exc:  # whatever broke, the run and the subscription say so
            self._fail(run, exc, recorder.diagnostics)
        outputs = {k: v.value for k, v in result.outputs.items()}
        with db.transaction(self.settings.DATABASE_URL) as conn:
            runs.finish(conn, run.id, "succeeded", summary=result.summary.resource_changes)
            runs.clear_attention(conn, spec.subscription_id)
            self._record_ready(conn, spec, outputs)
            self._queue_owed_emails(conn, spec)
        return "up"

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

    @staticmethod
    def _queue_owed_emails(conn, spec: HostingSpec) -> None:
        """The welcome after the first successful run, and the password a reset asked for, queued
        in the transaction that records the run: a crash after it cannot lose them, and the
        send itself is deduplicated by record (app.mail)."""
        sid = spec.subscription_id
        if not emails.is_recorded(conn, welcome_key(sid)):
            defer_in(conn, "send_welcome_email", "mail", {"subscription_id": sid}, queueing_lock=f"welcome-{sid}")
        reset = spec.cpanel_password_resets
        if reset and not emails.is_recorded(conn, cpanel_password_key(sid, reset)):
            defer_in(conn, "send_cpanel_password_email", "mail", {"subscription_id": sid, "reset": reset},
                     queueing_lock=f"cpanel-password-{sid}-{reset}")

    def _destroy(self, subscription_id: int) -> str:
        run = self._start_run(subscription_id, "destroy", "destroying")
        recorder = StepRecorder(self._step_sink(run))
        try:
            summary = {}
            if self.ops.exists(subscription_id):
                # The last copy, taken before anything is deleted: if WHM cannot make it, this
                # raises and nothing is destroyed (the run fails and is retried).
                back_up_account(self.settings, subscription_id, reason="destroy")
                destroyed = self.ops.destroy(subscription_id, recorder, repair=run.after_a_dead_run,
                                             lock_holder_gone=self._lock_holder_gone(run))
                summary = destroyed.summary.resource_changes
        except Exception as exc:  # whatever broke, the run and the subscription say so
            self._fail(run, exc, recorder.diagnostics)
        with db.transaction(self.settings.DATABASE_URL) as conn:
            runs.finish(conn, run.id, "succeeded", summary=summary)
            runs.clear_attention(conn, subscription_id)
            runs.record_destroyed(conn, subscription_id)
        return "destroyed"

    def check_drift(self, subscription_id: int) -> bool:
        """Nightly: refresh (observe reality), then preview (what `up` would change)."""
        spec = self._spec(subscription_id)
        run = self._start_run(subscription_id, "refresh", None)
        recorder = StepRecorder(self._step_sink(run))
        try:
            refreshed = self.ops.refresh(spec, recorder, repair=run.after_a_dead_run,
                                         lock_holder_gone=self._lock_holder_gone(run))
            preview = self.ops.preview(spec, recorder)
        except Exception as exc:
            reason, transient = failure_reason(exc, recorder.diagnostics)
            with db.transaction(self.settings.DATABASE_URL) as conn:
                runs.finish(conn, run.id, "failed", error=reason)
            raise (TransientConvergeError if transient else PermanentConvergeError)(reason) from exc
        pending = {k: v for k, v in preview.change_summary.items() if k != "same" and v}
        refresh_changes = {k: v for k, v in (refreshed.summary.resource_changes or {}).items() if k != "same" and v}
        drift = bool(pending or refresh_changes)
        changes = [step for step in recorder.steps
                   if step["status"] == "started" and step["op"] not in ("same", "read", "refresh")]
        with db.transaction(self.settings.DATABASE_URL) as conn:
            runs.finish(conn, run.id, "succeeded", drift=drift,
                        summary={"refresh": refresh_changes, "pending": pending, "steps": changes})
        return drift
