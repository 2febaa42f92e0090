"""Stack operations for one subscription: up, preview, refresh, destroy, history, cancel, export.

The app runs the three that make a recorded run (converge, tear_down, check_drift), which
answer with a typed outcome (stacks/outcome.py) instead of raising: the engine's text is read
here, never by the app. The plain ones (up, preview, ...) answer with the Automation API's
results and raise, for the tools and tests that look at the engine itself.

Stack `sub-<id>` of the `mpanel` project, state in the postgres:// backend. Each
operation runs in a fresh temporary work dir: the passphrase salt travels in the
stack's state, so any worker on any host can run any stack. An operation that
finds the stack left behind by a killed process recovers it (stale lock
cancelled, pending operations cleared) and runs once more; providers adopt what a crash left
upstream (architecture decision 5), which is what makes clearing them safe.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from pulumi import automation as auto
from pulumi.automation._stack import StackInitMode

from stacks import engine
from stacks.engine import EngineConfig
from stacks.events import StepRecorder, mask
from stacks.outcome import DriftChecked, Failed, Succeeded, attempt, drift_checked, succeeded
from stacks.program import program_for
from stacks import provider_host, supervision
from stacks.recovery import LEFT_BY_A_DEAD_RUN, remove_locks_of_a_missing_stack
from stacks.spec import HostingSpec, stack_name

log = logging.getLogger("mpanel.stacks")

# Who decides whether the process holding a stack's lock is gone: the caller, from its own
# records (mpanel: worker heartbeats in PostgreSQL). Given the CLI's message, True = stale.
LockHolderGone = Callable[[str], bool]


def _never(_message: str) -> bool:
    return False


def _noop_program() -> None:
    """Operations that do not run the program (destroy, history, export) still need one."""


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
        return {key: auto.OutputValue(value=mask(value), secret=mask(value) != value)
                for key, value in recorder.stack_outputs.items()}

    def info(show_secrets: bool = True) -> auto.UpdateSummary | None:
        if recorder.resource_changes is None:
            return ask_cli_info(show_secrets)
        return auto.UpdateSummary(kind=kind, start_time=started, end_time=dt.datetime.now(), message="",
                                  environment={}, config={}, result="succeeded",
                                  resource_changes=recorder.resource_changes)

    stack.outputs, stack.info = outputs, info


class _Addressed(auto.Stack):
    """A stack addressed by name without `pulumi stack select` first: every CLI call the SDK
    makes passes `--stack`, so the select (a CLI process of its own, ~0.9 s of a 2-core
    machine's no-change converge, `mpanel bench profile`) only checked the stack exists. A
    stack that does not is created on the first call that finds it missing and the call runs
    again: what create_or_select_stack did, one CLI process later instead of earlier."""

    def __init__(self, name: str, program, opts: auto.LocalWorkspaceOptions, create_missing: bool = True):
        opts.program = program
        if opts.project_settings and opts.project_settings.main is None:
            opts.project_settings.main = os.getcwd()  # as the SDK's inline-program helper does
        self.name, self.workspace = name, auto.LocalWorkspace(**opts.__dict__)
        self._mode = StackInitMode.CREATE_OR_SELECT if create_missing else StackInitMode.SELECT
        self.create_missing = create_missing

    def _run_pulumi_cmd_sync(self, args, on_output=None, on_error=None):
        try:
            return super()._run_pulumi_cmd_sync(list(args), on_output, on_error)
        except auto.StackNotFoundError:
            if not self.create_missing:
                raise
            self.workspace.create_stack(self.name)
            return super()._run_pulumi_cmd_sync(list(args), on_output, on_error)

    def plain_outputs(self) -> dict[str, Any]:
        """The outputs, secrets decrypted, in one CLI call: the SDK's outputs() makes two (one
        masked, to tell which are secret) besides its `stack select`, ~1 s of the welcome email's way."""
        return json.loads(self._run_pulumi_cmd_sync(["stack", "output", "--json", "--show-secrets"]).stdout)


class StackOperations:
    """Every engine operation mpanel performs on a subscription's stack."""

    def __init__(self, config: EngineConfig, run_timeout: float | None = None):
        self.config = config
        self.run_timeout = run_timeout  # seconds an operation may take before its processes are killed

    @contextmanager
    def _stack(self, name: str, program=None, *, existing: bool = False, likely_new: bool = False,
               lock_holder_gone: LockHolderGone | None = None) -> Iterator[auto.Stack]:
        """The stack in a fresh work dir, removed afterwards. `existing`: never created, so a
        read of a missing stack raises StackNotFoundError (no `stack select` first either). `likely_new`: try
        `stack init` first, sparing a first up the `stack select` that would fail (~0.2 s)."""
        opts = engine.workspace_options(self.config)
        program = program or _noop_program
        try:
            # Operations that call providers use the worker's running provider server; reads
            # (outputs, history, export, cancel) call none and start none.
            server = contextlib.nullcontext({}) if existing else provider_host.attached(opts.env_vars)
            with supervision.deadline(self.run_timeout), server as attach:
                opts.env_vars.update(attach)
                if existing:
                    stack = _Addressed(name, program, opts, create_missing=False)
                elif likely_new:
                    stack = self._created(name, program, opts, lock_holder_gone)
                else:
                    stack = _Addressed(name, program, opts)
                yield stack
        finally:
            shutil.rmtree(opts.work_dir, ignore_errors=True)

    def _created(self, name: str, program, opts: auto.LocalWorkspaceOptions,
                 lock_holder_gone: LockHolderGone | None) -> auto.Stack:
        """`stack init`, or the stack a dead run made; or, when a run killed inside `stack init`
        left only the new stack's lock and its holder is gone, that lock removed and init again."""
        try:
            return auto.create_stack(name, engine.PROJECT, program, opts=opts)
        except (auto.StackAlreadyExistsError, auto.ConcurrentUpdateError) as refused:  # a dead run made it
            try:
                return auto.select_stack(name, engine.PROJECT, program, opts=opts)
            except auto.StackNotFoundError:
                if not isinstance(refused, auto.ConcurrentUpdateError) or not (lock_holder_gone or _never)(str(refused)):
                    raise
        removed = remove_locks_of_a_missing_stack(self.config.backend_url, engine.PROJECT, name)
        log.warning("stack %s: removed %d lock(s) a run killed in `stack init` left on no stack", name, removed)
        return auto.create_stack(name, engine.PROJECT, program, opts=opts)

    def _run(self, stack: auto.Stack, operation, lock_holder_gone: LockHolderGone | None = None):
        """Run one engine operation; if a killed run left the stack locked or with pending
        operations, recover and try once more (checking first would cost every run ~1 s).
        A lock whose holder is alive (or that the caller cannot vouch for) is left alone: the
        error goes up and the job retries. An operation past the run's deadline
        (StackOperations.run_timeout) has had its processes killed: the stack is recovered and
        EngineRunTimedOut goes up."""
        try:
            return operation()
        except supervision.EngineRunTimedOut:
            log.error("stack %s: engine run timed out; its processes were killed, recovering", stack.name)
            with supervision.deadline(self.run_timeout):
                self.recover(stack)
            raise
        except auto.CommandError as exc:
            found = LEFT_BY_A_DEAD_RUN.search(str(exc))
            if not found or not (lock_holder_gone or _never)(str(exc)):
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
        and after a dead run (the caller's records say its worker died) cancel the lock and clear
        the pending operations it may have left (see up())."""
        _answer_from_events(stack, recorder, kind)
        if repair:
            self.recover(stack)

    def up(self, spec: HostingSpec, recorder: StepRecorder | None = None, refresh: bool = True,
           repair: bool = False, lock_holder_gone: LockHolderGone | None = None) -> auto.UpResult:
        """`refresh` first (the default): converging means matching reality, so a change made
        behind our back (an account suspended in WHM, a record edited in PowerDNS) is seen and
        undone. A stack that never converged has nothing to refresh.

        `repair`: the caller's records say an earlier run on this stack died, so pending
        operations are cleared first. A run killed inside recovery (lock cancelled, pending
        operations not yet cleared) leaves no lock to trip over, and the engine then goes
        ahead with only a warning (none at all with --refresh); the program runs again and
        the providers adopt, so the leftovers are stale either way."""
        recorder = recorder or StepRecorder()
        def keep(exported: dict[str, Any]) -> None:
            recorder.exported = exported

        with self._stack(spec.stack_name, program_for(spec, on_exported=keep),
                         likely_new=not spec.converged_before, lock_holder_gone=lock_holder_gone) as stack:
            self._before_changing(stack, recorder, "update", repair)
            result = self._run(stack, lambda: stack.up(on_event=recorder, color="never", refresh=refresh),
                               lock_holder_gone)
            if recorder.saw_pending_operations:
                self._clear_pending_operations(stack)
            return result

    def preview(self, spec: HostingSpec, recorder: StepRecorder | None = None) -> auto.PreviewResult:
        recorder = recorder or StepRecorder()
        with self._stack(spec.stack_name, program_for(spec)) as stack:
            return self._run(stack, lambda: stack.preview(on_event=recorder, color="never", diff=True))

    def refresh(self, spec: HostingSpec, recorder: StepRecorder | None = None,
                repair: bool = False, lock_holder_gone: LockHolderGone | None = None) -> auto.RefreshResult:
        recorder = recorder or StepRecorder()
        with self._stack(spec.stack_name, program_for(spec)) as stack:
            self._before_changing(stack, recorder, "refresh", repair)
            return self._run(stack, lambda: stack.refresh(on_event=recorder, color="never"), lock_holder_gone)

    def destroy(self, subscription_id: int, recorder: StepRecorder | None = None,
                repair: bool = False, lock_holder_gone: LockHolderGone | None = None) -> auto.DestroyResult:
        recorder = recorder or StepRecorder()
        name = stack_name(subscription_id)
        with self._stack(name) as stack:
            self._before_changing(stack, recorder, "destroy", repair)
            result = self._run(stack, lambda: stack.destroy(on_event=recorder, color="never"), lock_holder_gone)
            stack.workspace.remove_stack(name)
        return result

    # --- the recorded runs: typed outcomes ----------------------------------------------
    def converge(self, spec: HostingSpec, recorder: StepRecorder, *, repair: bool = False,
                 lock_holder_gone: LockHolderGone | None = None,
                 then: Callable[[dict], None] | None = None) -> Succeeded | Failed:
        """`up`, refreshing first once the stack has converged before; `then` is the caller's
        own last step of the run (a backup, a restore), given the stack's outputs (the account
        the run made is recorded only after it), whose failure fails the run too."""
        def work() -> Succeeded:
            done = succeeded(self.up(spec, recorder, refresh=spec.converged_before, repair=repair,
                                     lock_holder_gone=lock_holder_gone))
            if then:
                then(done.outputs)
            return done
        return attempt(work, recorder)

    def tear_down(self, subscription_id: int, recorder: StepRecorder, *, repair: bool = False,
                  lock_holder_gone: LockHolderGone | None = None,
                  first: Callable[[], None] | None = None) -> Succeeded | Failed:
        """`destroy` the stack if there is one; `first` is the caller's step before anything is
        deleted (the last backup): if it raises, nothing is destroyed."""
        def work() -> Succeeded:
            if not self.exists(subscription_id):
                return Succeeded()
            if first:
                first()
            return succeeded(self.destroy(subscription_id, recorder, repair=repair,
                                          lock_holder_gone=lock_holder_gone))
        return attempt(work, recorder)

    def check_drift(self, spec: HostingSpec, recorder: StepRecorder, *, repair: bool = False,
                    lock_holder_gone: LockHolderGone | None = None) -> DriftChecked | Failed:
        """Refresh (observe reality), then preview (what `up` would change)."""
        def work() -> DriftChecked:
            refreshed = self.refresh(spec, recorder, repair=repair, lock_holder_gone=lock_holder_gone)
            return drift_checked(refreshed, self.preview(spec, recorder), recorder)
        return attempt(work, recorder)

    # --- reads ---------------------------------------------------------------------------
    def outputs(self, subscription_id: int) -> dict[str, Any]:
        """The stack's outputs, secrets decrypted (for the welcome email only)."""
        with self._stack(stack_name(subscription_id), existing=True) as stack:
            return stack.plain_outputs()

    def history(self, subscription_id: int, page_size: int = 20) -> list[auto.UpdateSummary]:
        with self._stack(stack_name(subscription_id), existing=True) as stack:
            return stack.history(page_size=page_size)

    def export(self, subscription_id: int) -> dict:
        with self._stack(stack_name(subscription_id), existing=True) as stack:
            return dict(stack.export_stack().deployment)

    def import_state(self, subscription_id: int, deployment: dict) -> None:
        """Replace the stack's state (stacks/migration.py; secrets in plain text are encrypted again)."""
        with self._stack(stack_name(subscription_id), existing=True) as stack:
            stack.import_stack(auto.Deployment(version=3, deployment=deployment))

    def stack_names(self) -> list[str]:
        """Every stack of the project in the backend."""
        with self._stack(stack_name(0), existing=True) as stack:
            return sorted(s.name for s in stack.workspace.list_stacks())

    def cancel(self, subscription_id: int) -> None:
        with self._stack(stack_name(subscription_id), existing=True) as stack:
            stack.cancel()

    def exists(self, subscription_id: int) -> bool:
        try:
            with self._stack(stack_name(subscription_id), existing=True) as stack:
                stack.workspace.select_stack(stack.name)  # the one call whose whole job is this check
                return True
        except auto.StackNotFoundError:
            return False
