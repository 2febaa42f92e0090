"""Converging one subscription: desired state in, engine run, outcome written back.

Called by the queue's `converge_subscription` task (never from a web request). The
whole outcome lands on the subscription, website, domain and zone rows, and every
resource step is written to provisioning_events while the engine runs, so the
customer's status page and the ops CLI show progress live.
"""
from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from app import db
from app.services.engine import stack_operations
from app.services.errors import PermanentConvergeError, TransientConvergeError
from app.services.mailboxes import passwords_applied
from app.services.specs import build_spec
from app.settings import Settings
from stacks.events import StepRecorder
from stacks.operations import StackOperations
from stacks.recovery import process_gone
from stacks.spec import HostingSpec, SpecError


_TRANSIENT = re.compile(r"\[transient\]|connection refused|timed out|temporarily|stack is currently locked|"
                        r"conflict: another update", re.IGNORECASE)
_PROVIDER_ERROR = re.compile(r"(?:^|\s)((?:whm|namesilo|powerdns|acme|mailbox|site): [^\n]*?\[(?:transient|permanent)\])")


def failure_reason(exc: Exception, diagnostics: list[str]) -> tuple[str, bool]:
    """The human reason for a failed run and whether it is worth retrying."""
    text = "\n".join(diagnostics) + "\n" + str(exc)
    found = _PROVIDER_ERROR.findall(text)
    reason = found[0] if found else (diagnostics[0] if diagnostics else str(exc)).strip().splitlines()[0]
    return reason[:1000], bool(_TRANSIENT.search(" ".join(found) if found else text))


@dataclass
class Run:
    id: int
    subscription_id: int
    after_a_dead_run: bool = False  # an earlier run on this stack never finished: repair first


class Converger:
    def __init__(self, settings: Settings, operations: StackOperations | None = None):
        self.settings = settings
        self.ops = operations or stack_operations(settings)

    # --- bookkeeping -------------------------------------------------------------------
    def _start_run(self, subscription_id: int, operation: str, provisioning_status: str | None) -> Run:
        with db.transaction(self.settings.DATABASE_URL) as conn:
            if provisioning_status:
                conn.execute("UPDATE subscriptions SET provisioning_status = %s, updated_at = now() WHERE id = %s",
                             (provisioning_status, subscription_id))
            # A run still 'running' whose process is gone died mid-way; the engine may not notice
            # what it left (see StackOperations.up). One whose process lives (an operator's CLI
            # beside the worker) is left alone.
            dead = [r["id"] for r in conn.execute(
                "SELECT id, runner_host, runner_pid, started_at FROM provisioning_runs "
                "WHERE subscription_id = %s AND status = 'running' FOR UPDATE", (subscription_id,))
                if r["runner_pid"] is None or process_gone(r["runner_host"], r["runner_pid"], r["started_at"])]
            conn.execute("UPDATE provisioning_runs SET status = 'failed', finished_at = now(), "
                         "error = 'interrupted: the process running it stopped before it finished' "
                         "WHERE id = ANY(%s)", (dead,))
            row = conn.execute("INSERT INTO provisioning_runs (subscription_id, operation, runner_host, runner_pid) "
                               "VALUES (%s, %s, %s, %s) RETURNING id",
                               (subscription_id, operation, socket.gethostname(), os.getpid())).fetchone()
        return Run(row["id"], subscription_id, after_a_dead_run=bool(dead))

    def _step_sink(self, run: Run):
        def record(step: dict[str, Any]) -> None:
            with db.transaction(self.settings.DATABASE_URL) as conn:
                conn.execute(
                    """INSERT INTO provisioning_events (run_id, subscription_id, urn, resource_type, resource_name,
                                                          op, status, message, duration_ms)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    (run.id, run.subscription_id, step.get("urn"), step.get("resource_type"),
                     step.get("resource_name"), step.get("op"), step["status"],
                     step.get("message") or (json.dumps(step["changes"]) if step.get("changes") else None),
                     step.get("duration_ms")))
        return record

    def _finish_run(self, conn, run: Run, status: str, summary: Any = None, error: str | None = None,
                    drift: bool | None = None) -> None:
        conn.execute("UPDATE provisioning_runs SET status = %s, finished_at = now(), summary = %s, error = %s, "
                     "drift = %s WHERE id = %s",
                     (status, Jsonb(summary) if summary is not None else None, error, drift, run.id))

    def _fail(self, run: Run, exc: Exception, diagnostics: list[str]) -> None:
        """Record the run as failed. A transient failure keeps the subscription 'provisioning'
        (a retry is coming; the reason is shown meanwhile); a permanent one marks it failed."""
        reason, transient = failure_reason(exc, diagnostics)
        with db.transaction(self.settings.DATABASE_URL) as conn:
            self._finish_run(conn, run, "failed", error=reason)
            conn.execute("UPDATE subscriptions SET provisioning_error = %s, updated_at = now(), "
                         "provisioning_status = CASE WHEN %s THEN provisioning_status ELSE 'failed' END "
                         "WHERE id = %s", (reason, transient, run.subscription_id))
            if not transient:
                conn.execute("UPDATE websites SET status = 'failed', updated_at = now() WHERE subscription_id = %s "
                             "AND status IN ('pending', 'provisioning')", (run.subscription_id,))
        if transient:
            raise TransientConvergeError(reason) from exc
        raise PermanentConvergeError(reason) from exc

    # --- the one entry point -----------------------------------------------------------
    def converge(self, subscription_id: int) -> str:
        """Make subscription `subscription_id` match its desired state; return what was done."""
        with db.transaction(self.settings.DATABASE_URL) as conn:
            row = conn.execute("SELECT status, provisioning_status FROM subscriptions WHERE id = %s",
                               (subscription_id,)).fetchone()
            if row is None:
                raise PermanentConvergeError(f"subscription {subscription_id} does not exist")
            if row["status"] == "pending_payment":
                return "waiting for payment"
            if row["status"] == "abandoned":
                return "never paid: nothing to build"
            spec = None
            if row["status"] != "terminated":
                try:
                    spec = build_spec(conn, subscription_id, self.settings)
                except SpecError as exc:
                    raise PermanentConvergeError(str(exc)) from exc
        # The engine runs outside any database transaction (a run takes seconds).
        if spec is not None:
            return self._up(spec)
        if row["provisioning_status"] in ("destroyed", "pending"):
            return "nothing to destroy"
        return self._destroy(subscription_id)

    def _up(self, spec: HostingSpec) -> str:
        run = self._start_run(spec.subscription_id, "up", "provisioning")
        with db.transaction(self.settings.DATABASE_URL) as conn:
            conn.execute(
                """INSERT INTO websites (subscription_id, domain_id, server_id, status)
                   SELECT s.id, d.id, s.server_id, 'provisioning' FROM subscriptions s
                     JOIN domains d ON d.subscription_id = s.id AND d.status <> 'released' WHERE s.id = %s
                   ON CONFLICT (subscription_id) DO UPDATE SET
                     status = CASE WHEN websites.status IN ('active', 'suspended') THEN websites.status
                                   ELSE 'provisioning' END, updated_at = now()""", (spec.subscription_id,))
        recorder = StepRecorder(self._step_sink(run))
        try:
            result = self.ops.up(spec, recorder, refresh=spec.converged_before, repair=run.after_a_dead_run)
        except Exception as exc:  # whatever broke, the run and the subscription say so
            self._fail(run, exc, recorder.diagnostics)
        outputs = {k: v.value for k, v in result.outputs.items()}
        with db.transaction(self.settings.DATABASE_URL) as conn:
            self._finish_run(conn, run, "succeeded", summary=result.summary.resource_changes)
            self._record_ready(conn, spec, outputs)
        return "up"

    def _record_ready(self, conn, spec: HostingSpec, outputs: dict[str, Any]) -> None:
        sid = spec.subscription_id
        passwords_applied(conn, [(m.row_id, m.password_token) for m in spec.mailboxes if m.password_token])
        conn.execute(
            """UPDATE websites SET cpanel_username = %s, cpanel_url = %s, document_root = %s, server_id = %s,
                      status = %s, ssl_expires_at = %s, cpanel_password_applied = %s, updated_at = now()
                WHERE subscription_id = %s""",
            (outputs.get("cpanel_username"), outputs.get("cpanel_url"),
             f"{spec.site_home_root.rstrip('/')}/{outputs.get('cpanel_username')}/public_html", spec.server_id,
             "suspended" if spec.suspended else "active", outputs.get("certificate_not_after"),
             spec.cpanel_password_resets, sid))
        domain_status = {"external": "external", "new_registration": "active"}.get(
            spec.domain_mode, "active" if outputs.get("registration_status") == "Active" else "transfer_pending")
        conn.execute("UPDATE domains SET status = %s, nameservers = %s, registrar = %s, updated_at = now() "
                     "WHERE subscription_id = %s AND status <> 'released'",
                     (domain_status, list(spec.nameservers),
                      None if spec.domain_mode == "external" else "namesilo", sid))
        conn.execute(
            """INSERT INTO dns_zones (domain_id, name, status)
               SELECT id, name || '.', 'active' FROM domains WHERE subscription_id = %s AND status <> 'released'
               ON CONFLICT (domain_id) DO UPDATE SET status = 'active', updated_at = now()""", (sid,))
        conn.execute("UPDATE subscriptions SET provisioning_status = 'ready', provisioning_error = NULL, "
                     "activated_at = coalesce(activated_at, now()), updated_at = now() WHERE id = %s", (sid,))

    def _destroy(self, subscription_id: int) -> str:
        run = self._start_run(subscription_id, "destroy", "destroying")
        recorder = StepRecorder(self._step_sink(run))
        try:
            summary = {}
            if self.ops.exists(subscription_id):
                destroyed = self.ops.destroy(subscription_id, recorder, repair=run.after_a_dead_run)
                summary = destroyed.summary.resource_changes
        except Exception as exc:  # whatever broke, the run and the subscription say so
            self._fail(run, exc, recorder.diagnostics)
        with db.transaction(self.settings.DATABASE_URL) as conn:
            self._finish_run(conn, run, "succeeded", summary=summary)
            conn.execute("UPDATE websites SET status = 'removed', updated_at = now() WHERE subscription_id = %s",
                         (subscription_id,))
            conn.execute("UPDATE dns_zones SET status = 'removed', updated_at = now() WHERE domain_id IN "
                         "(SELECT id FROM domains WHERE subscription_id = %s)", (subscription_id,))
            # The registration stays the customer's (auto-renew off); the name is free to order again.
            conn.execute("UPDATE domains SET status = 'released', updated_at = now() WHERE subscription_id = %s",
                         (subscription_id,))
            conn.execute("UPDATE subscriptions SET provisioning_status = 'destroyed', provisioning_error = NULL, "
                         "updated_at = now() WHERE id = %s", (subscription_id,))
        return "destroyed"

    def check_drift(self, subscription_id: int) -> bool:
        """Nightly: refresh (observe reality), then preview (what `up` would change)."""
        with db.transaction(self.settings.DATABASE_URL) as conn:
            try:
                spec = build_spec(conn, subscription_id, self.settings)
            except SpecError as exc:
                raise PermanentConvergeError(str(exc)) from exc
        run = self._start_run(subscription_id, "refresh", None)
        recorder = StepRecorder(self._step_sink(run))
        try:
            refreshed = self.ops.refresh(spec, recorder, repair=run.after_a_dead_run)
            preview = self.ops.preview(spec, recorder)
        except Exception as exc:
            reason, transient = failure_reason(exc, recorder.diagnostics)
            with db.transaction(self.settings.DATABASE_URL) as conn:
                self._finish_run(conn, run, "failed", error=reason)
            raise (TransientConvergeError if transient else PermanentConvergeError)(reason) from exc
        pending = {k: v for k, v in preview.change_summary.items() if k != "same" and v}
        refresh_changes = {k: v for k, v in (refreshed.summary.resource_changes or {}).items() if k != "same" and v}
        drift = bool(pending or refresh_changes)
        changes = [step for step in recorder.steps
                   if step["status"] == "started" and step["op"] not in ("same", "read", "refresh")]
        with db.transaction(self.settings.DATABASE_URL) as conn:
            self._finish_run(conn, run, "succeeded", drift=drift,
                             summary={"refresh": refresh_changes, "pending": pending, "steps": changes})
        return drift
