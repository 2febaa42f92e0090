"""Stack operations for one subscription: up, preview, refresh, destroy, history, cancel, export.

Stack `sub-<id>` of the `mpanel` project, state in the postgres:// backend. Each
operation runs in a fresh temporary work dir: the passphrase salt travels in the
stack's state, so any worker on any host can run any stack. An operation that
finds the stack left behind by a killed process recovers it (stale lock
cancelled, pending operations cleared) and runs once more; providers adopt what a crash left
upstream (architecture decision 5), which is what makes clearing them safe.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import logging

from pulumi import automation as auto
from pulumi.automation import events

from app.settings import Settings
from stacks import engine
from stacks.program import program_for
from stacks.spec import HostingSpec, stack_name

log = logging.getLogger("mpanel.stacks")

Step = dict[str, Any]
StepSink = Callable[[Step], None]

SECRET_SIG = "4dabf18193072939515e22adb298388d"
# What the CLI says when a previous run died holding the lock or mid-operation.
_LEFT_BY_A_DEAD_RUN = re.compile(r"currently locked|pending operation|interrupted while|"
                                 r"operation was interrupted|update is in progress", re.IGNORECASE)


def _noop_program() -> None:
    """Operations that do not run the program (destroy, history, export) still need one."""


@dataclass
class StepRecorder:
    """Turns engine events into one row-shaped dict per resource step, with timings; keeps
    the stack's outputs and the change counts the engine reports at the end."""

    sink: StepSink | None = None
    steps: list[Step] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)
    stack_outputs: dict[str, Any] | None = None
    resource_changes: dict[str, int] | None = None
    saw_pending_operations: bool = False  # the engine warned it went ahead despite a dead run's leftovers
    _started: dict[str, float] = field(default_factory=dict)

    def __call__(self, event: events.EngineEvent) -> None:
        if event.res_outputs_event and event.res_outputs_event.metadata.type == "pulumi:pulumi:Stack":
            new = event.res_outputs_event.metadata.new
            self.stack_outputs = dict(new.outputs or {}) if new else {}
        if event.summary_event:
            self.resource_changes = dict(event.summary_event.resource_changes or {})
        if event.resource_pre_event:
            self._emit(event.resource_pre_event.metadata, "started")
        elif event.res_outputs_event:
            self._emit(event.res_outputs_event.metadata, "done")
        elif event.res_op_failed_event:
            self._emit(event.res_op_failed_event.metadata, "failed")
        elif event.diagnostic_event and event.diagnostic_event.severity == "warning":
            self.saw_pending_operations |= "pending operations from previous deployment" in event.diagnostic_event.message
        elif event.diagnostic_event and event.diagnostic_event.severity == "error":
            message = event.diagnostic_event.message.strip()
            self.diagnostics.append(message)
            self._send({"urn": event.diagnostic_event.urn, "status": "error", "message": message[:2000]})

    def _emit(self, meta: events.StepEventMetadata, status: str) -> None:
        if meta.type == "pulumi:pulumi:Stack":
            return
        op = meta.op.value if hasattr(meta.op, "value") else str(meta.op)
        key = f"{meta.urn}:{op}"
        step: Step = {"urn": meta.urn, "resource_type": _kind(meta), "resource_name": meta.urn.rsplit("::", 1)[-1],
                      "op": op, "status": status, "diffs": list(meta.diffs or [])}
        if meta.detailed_diff:
            step["detailed_diff"] = {k: (v.diff_kind.value if hasattr(v.diff_kind, "value") else str(v.diff_kind))
                                     for k, v in meta.detailed_diff.items()}
        if status == "started":
            self._started[key] = time.monotonic()
            step["changes"] = _property_changes(meta)
        elif key in self._started:
            step["duration_ms"] = int((time.monotonic() - self._started.pop(key)) * 1000)
        self.steps.append(step)
        self._send(step)

    def _send(self, step: Step) -> None:
        if self.sink:
            self.sink(step)


def _kind(meta: events.StepEventMetadata) -> str:
    """`pulumi-python:dynamic/whm:WhmAccount` -> `whm:WhmAccount`; plain dynamic types fall back to the name."""
    if meta.type.startswith("pulumi-python:dynamic/"):
        return meta.type.split("/", 1)[1]
    if meta.type.startswith("pulumi-python:dynamic"):
        return "dynamic:" + meta.urn.rsplit("::", 1)[-1]
    return meta.type


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return "[secret]"
        return {k: _mask(v) for k, v in value.items() if k != "__provider"}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _property_changes(meta: events.StepEventMetadata) -> dict[str, dict]:
    """old -> new for each changed input, secrets masked."""
    old = _mask(dict(meta.old.inputs or {})) if meta.old else {}
    new = _mask(dict(meta.new.inputs or {})) if meta.new else {}
    keys = meta.diffs or sorted(set(old) | set(new))
    return {k: {"old": old.get(k), "new": new.get(k)} for k in keys
            if k != "__provider" and old.get(k) != new.get(k)}


# "created by root@web1 (pid 24579) at 2026-11-26T07:10:58Z", one line per lock.
_LOCK_HOLDER = re.compile(r"created by \S+@(\S+) \(pid (\d+)\) at (\S+)")
# A lock from another host is presumed dead only after this long (no run takes minutes).
STALE_LOCK_AFTER = dt.timedelta(minutes=15)
PID_REUSE_SLACK = dt.timedelta(seconds=60)


def _boot_time() -> dt.datetime:
    with open("/proc/stat") as f:
        btime = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    return dt.datetime.fromtimestamp(btime, dt.timezone.utc)


def _signalable(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder_running(pid: int, locked_at: dt.datetime) -> bool:
    """Is the process that took the lock still running? A killed process lingers as a
    zombie until something reaps it (in a container pid 1 may take its time), and a
    pid can be reused: neither counts as the holder."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return _signalable(pid)  # gone, or hidden from us (/proc mounted with hidepid)
    except OSError:
        return True  # cannot tell: leave the lock alone
    fields = stat[stat.rindex(")") + 2:].split()  # the name may hold spaces and parentheses
    if fields[0] in ("Z", "X"):
        return False
    started = _boot_time() + dt.timedelta(seconds=int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    # A process born after the lock is not its holder; the slack covers the lock's one-second
    # resolution and a wall clock stepped since (boot time is derived from it).
    return started <= locked_at + PID_REUSE_SLACK


def process_gone(host: str, pid: int, since: dt.datetime, now: dt.datetime | None = None) -> bool:
    """Has the process that started something at `since` stopped? On this host its pid no
    longer runs (or is another process now); elsewhere it started over STALE_LOCK_AFTER ago."""
    if host == socket.gethostname():
        return not _holder_running(pid, since)
    return (now or dt.datetime.now(dt.timezone.utc)) - since >= STALE_LOCK_AFTER


def lock_is_stale(message: str, now: dt.datetime | None = None) -> bool:
    """True when every lock named in the CLI's message belongs to a process that is gone."""
    holders = _LOCK_HOLDER.findall(message)
    if not holders:  # pending operations without a lock have nobody to protect; a lock we cannot read does
        return "locked" not in message.lower()
    return all(process_gone(host, int(pid), dt.datetime.fromisoformat(at.replace("Z", "+00:00")), now)
               for host, pid, at in holders)


def _answer_from_events(stack: auto.Stack, recorder: StepRecorder, kind: str) -> None:
    """After up/refresh/destroy the SDK runs the CLI three more times (`stack output` twice,
    `stack history`) only to fill in the result object: about 1 s, a quarter of a customer's
    whole provisioning. The engine's events already said both things, so this one Stack
    object answers them from the recorder; whatever the events lacked, the SDK still asks
    the CLI for. Secret outputs stay masked here (read them with StackOperations.outputs)."""
    ask_cli_outputs, ask_cli_info = stack.outputs, stack.info
    started = dt.datetime.now()

    def outputs() -> auto.OutputMap:
        if recorder.stack_outputs is None:
            return ask_cli_outputs()
        return {key: auto.OutputValue(value=_mask(value), secret=_mask(value) != value)
                for key, value in recorder.stack_outputs.items()}

    def info(show_secrets: bool = True) -> auto.UpdateSummary | None:
        if recorder.resource_changes is None:
            return ask_cli_info(show_secrets)
        return auto.UpdateSummary(kind=kind, start_time=started, end_time=dt.datetime.now(), message="",
                                  environment={}, config={}, result="succeeded",
                                  resource_changes=recorder.resource_changes)

    stack.outputs, stack.info = outputs, info


class StackOperations:
    """Every engine operation mpanel performs on a subscription's stack."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @contextmanager
    def _stack(self, name: str, program=None, *, existing: bool = False,
               likely_new: bool = False) -> Iterator[auto.Stack]:
        """The stack in a fresh work dir, removed afterwards. `existing`: select only, so a
        read never creates an empty stack (StackNotFoundError instead). `likely_new`: try
        `stack init` first, sparing a first up the `stack select` that would fail (~0.2 s)."""
        opts = engine.workspace_options(self.settings)
        program = program or _noop_program
        try:
            if existing:
                stack = auto.select_stack(name, engine.PROJECT, program, opts=opts)
            elif likely_new:
                try:
                    stack = auto.create_stack(name, engine.PROJECT, program, opts=opts)
                except (auto.StackAlreadyExistsError, auto.ConcurrentUpdateError):  # a dead run made it
                    stack = auto.select_stack(name, engine.PROJECT, program, opts=opts)
            else:
                stack = auto.create_or_select_stack(name, engine.PROJECT, program, opts=opts)
            yield stack
        finally:
            shutil.rmtree(opts.work_dir, ignore_errors=True)

    def _run(self, stack: auto.Stack, operation):
        """Run one engine operation; if a killed run left the stack locked or with pending
        operations, recover and try once more (checking first would cost every run ~1 s).
        A lock whose holder is alive is left alone: the error goes up and the job retries."""
        try:
            return operation()
        except auto.CommandError as exc:
            found = _LEFT_BY_A_DEAD_RUN.search(str(exc))
            if not found or not lock_is_stale(str(exc)):
                raise
            log.warning("stack %s: recovering from a dead run (%s)", stack.name, found.group(0))
        self.recover(stack)
        return operation()

    def recover(self, stack: auto.Stack) -> None:
        """Undo what a killed run leaves: the lock, then pending operations."""
        try:
            stack.cancel()
        except auto.CommandError:
            pass  # nothing to cancel
        self._clear_pending_operations(stack)

    @staticmethod
    def _clear_pending_operations(stack: auto.Stack) -> None:
        deployment = stack.export_stack()
        pending = deployment.deployment.get("pending_operations") if deployment.deployment else None
        if pending:
            deployment.deployment["pending_operations"] = []
            stack.import_stack(deployment)

    def _before_changing(self, stack: auto.Stack, recorder: StepRecorder, kind: str, repair: bool) -> None:
        """What up, refresh and destroy do first: answer their result from the engine's events,
        and after a dead run clear the pending operations it may have left (see up())."""
        _answer_from_events(stack, recorder, kind)
        if repair:
            self._run(stack, lambda: self._clear_pending_operations(stack))

    def up(self, spec: HostingSpec, recorder: StepRecorder | None = None, refresh: bool = True,
           repair: bool = False) -> auto.UpResult:
        """`refresh` first (the default): converging means matching reality, so a change made
        behind our back (an account suspended in WHM, a record edited in PowerDNS) is seen and
        undone. A stack that never converged has nothing to refresh.

        `repair`: the caller's records say an earlier run on this stack died, so pending
        operations are cleared first. A run killed inside recovery (lock cancelled, pending
        operations not yet cleared) leaves no lock to trip over, and the engine then goes
        ahead with only a warning (none at all with --refresh); the program runs again and
        the providers adopt, so the leftovers are stale either way."""
        recorder = recorder or StepRecorder()
        with self._stack(spec.stack_name, program_for(spec), likely_new=not spec.converged_before) as stack:
            self._before_changing(stack, recorder, "update", repair)
            result = self._run(stack, lambda: stack.up(on_event=recorder, color="never", refresh=refresh))
            if recorder.saw_pending_operations:
                self._clear_pending_operations(stack)
            return result

    def preview(self, spec: HostingSpec, recorder: StepRecorder | None = None) -> auto.PreviewResult:
        recorder = recorder or StepRecorder()
        with self._stack(spec.stack_name, program_for(spec)) as stack:
            return self._run(stack, lambda: stack.preview(on_event=recorder, color="never", diff=True))

    def refresh(self, spec: HostingSpec, recorder: StepRecorder | None = None,
                repair: bool = False) -> auto.RefreshResult:
        recorder = recorder or StepRecorder()
        with self._stack(spec.stack_name, program_for(spec)) as stack:
            self._before_changing(stack, recorder, "refresh", repair)
            return self._run(stack, lambda: stack.refresh(on_event=recorder, color="never"))

    def destroy(self, subscription_id: int, recorder: StepRecorder | None = None,
                repair: bool = False) -> auto.DestroyResult:
        recorder = recorder or StepRecorder()
        name = stack_name(subscription_id)
        with self._stack(name) as stack:
            self._before_changing(stack, recorder, "destroy", repair)
            result = self._run(stack, lambda: stack.destroy(on_event=recorder, color="never"))
            stack.workspace.remove_stack(name)
        return result

    def outputs(self, subscription_id: int) -> dict[str, Any]:
        """The stack's outputs, secrets decrypted (for the welcome email only)."""
        with self._stack(stack_name(subscription_id), existing=True) as stack:
            return {k: v.value for k, v in stack.outputs().items()}

    def history(self, subscription_id: int, page_size: int = 20) -> list[auto.UpdateSummary]:
        with self._stack(stack_name(subscription_id), existing=True) as stack:
            return stack.history(page_size=page_size)

    def export(self, subscription_id: int) -> dict:
        with self._stack(stack_name(subscription_id), existing=True) as stack:
            return dict(stack.export_stack().deployment)

    def cancel(self, subscription_id: int) -> None:
        with self._stack(stack_name(subscription_id), existing=True) as stack:
            stack.cancel()

    def exists(self, subscription_id: int) -> bool:
        try:
            with self._stack(stack_name(subscription_id), existing=True):
                return True
        except auto.StackNotFoundError:
            return False
