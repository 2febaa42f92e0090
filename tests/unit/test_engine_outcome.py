"""The engine's outcome as data (stacks/outcome.py): a failed run's reason and retry decision come
from structured provider errors, not from wording, and the typed operations never raise."""
from __future__ import annotations

from pulumi import automation as auto

from providers.core.errors import NotOurs, ProviderError
from stacks.events import StepRecorder
from stacks.operations import StackOperations
from stacks.outcome import Failed, Succeeded, failed
from stacks.spec import SpecError


def failure_reason(exc: Exception, diagnostics: list[str]) -> tuple[str, bool]:
    outcome = failed(exc, diagnostics)
    return outcome.reason, outcome.transient


def _engine_output(error: ProviderError) -> list[str]:
    """How the engine hands a provider's exception back: inside a diagnostic, indented, prefixed."""
    return [f"error: Exception: {error}\n    at resource urn:pulumi:sub-1::mpanel::whm:WhmAccount::account"]


def test_a_retryable_provider_error_makes_the_run_transient_with_its_human_reason():
    error = ProviderError("whm", "upstream answered 503 Service Unavailable", status=503, retryable=True)
    reason, transient = failure_reason(RuntimeError("exit status 255"), _engine_output(error))
    assert transient
    assert reason == "whm: upstream answered 503 Service Unavailable"


def test_a_permanent_provider_error_makes_the_run_permanent():
    error = ProviderError("namesilo", "domain x.com is not available for registration", code=261)
    reason, transient = failure_reason(RuntimeError("exit status 255"), _engine_output(error))
    assert not transient
    assert reason == "namesilo: domain x.com is not available for registration"


def test_wording_that_merely_sounds_transient_decides_nothing():
    error = ProviderError("powerdns", "zone refused: connection refused by policy [transient]", retryable=False)
    _, transient = failure_reason(RuntimeError("timed out"), _engine_output(error))
    assert not transient


def test_the_first_provider_error_wins_when_several_are_reported():
    first = NotOurs("mailbox", "mail domain shop.example is owned by another stack", code="not_ours")
    later = ProviderError("acme", "order failed", retryable=True)
    reason, transient = failure_reason(RuntimeError("exit"), _engine_output(first) + _engine_output(later))
    assert (reason, transient) == ("mailbox: mail domain shop.example is owned by another stack", False)


def test_an_engine_failure_no_provider_explained_is_retried():
    exc = auto.ConcurrentUpdateError(auto.CommandResult(stdout="", stderr="the stack is currently locked", code=255))
    reason, transient = failure_reason(exc, [])
    assert transient
    assert "locked" in reason


def test_a_spec_the_program_cannot_build_is_not_retried():
    reason, transient = failure_reason(SpecError("subscription 9 has no live domain"), [])
    assert not transient and reason == "subscription 9 has no live domain"


def test_grpc_core_log_lines_on_the_cli_stderr_are_never_the_reason():
    stderr = ("E1130 00:03:46.490845    4751 ev_epoll1_linux.cc:373] (event_engine) Epoll1Poller:0x7f72 "
              "encountered epoll_wait error: Bad file descriptor\n"
              "error: update failed\n")
    reason, transient = failure_reason(RuntimeError(f"code: 255\n stdout: \n stderr: {stderr}"), [])
    assert reason == "error: update failed"
    assert transient


def test_a_failure_carries_every_provider_error_found_and_what_was_raised():
    first = NotOurs("mailbox", "mail domain shop.example is owned by another stack", code="not_ours")
    later = ProviderError("acme", "order failed", retryable=True)
    exc = RuntimeError("exit")
    outcome = failed(exc, _engine_output(first) + _engine_output(later))
    assert [(e.provider, e.retryable) for e in outcome.provider_errors] == [("mailbox", False), ("acme", True)]
    assert isinstance(outcome.provider_errors[0], NotOurs) and outcome.cause is exc


class _Offline(StackOperations):
    """No engine at all: each operation answers or raises as the test says."""

    def __init__(self, exists: bool = True, raises: Exception | None = None):
        super().__init__(config=None)
        self.stack_exists, self.raises, self.calls = exists, raises, []

    def exists(self, subscription_id):
        return self.stack_exists

    def destroy(self, subscription_id, recorder=None, **kwargs):
        self.calls.append("destroy")
        if self.raises:
            raise self.raises


def test_a_typed_operation_answers_a_failure_instead_of_raising():
    recorder = StepRecorder()
    recorder.diagnostics.append(f"error: {ProviderError('whm', 'upstream answered 503', status=503, retryable=True)}")
    outcome = _Offline(raises=RuntimeError("exit status 255")).tear_down(1, recorder)
    assert isinstance(outcome, Failed) and outcome.transient and outcome.reason == "whm: upstream answered 503"


def test_tearing_down_a_stack_that_never_existed_succeeds_without_its_first_step():
    ops, first = _Offline(exists=False), []
    outcome = ops.tear_down(1, StepRecorder(), first=lambda: first.append(1))
    assert outcome == Succeeded(changes={}) and first == [] and ops.calls == []


def test_a_failed_first_step_destroys_nothing():
    ops = _Offline()

    def backup_fails():
        raise ProviderError("whm", "pkgacct failed", retryable=True)
    outcome = ops.tear_down(1, StepRecorder(), first=backup_fails)
    assert isinstance(outcome, Failed) and outcome.transient and ops.calls == []
