"""What an engine run came to, as data: the one place that reads the engine's text.

A run either succeeded (the changes the engine counted, the stack's outputs, or for a drift
check what the refresh found and what an `up` would change) or failed, with the human reason,
whether a retry can mend it, and the structured provider errors the engine passed on. The
engine hands a provider's exception back only as text (a diagnostic, the CLI's stderr), so
the providers' JSON trailers (providers.core.errors) are decoded here and nowhere else; the
app branches on `Failed.transient`, never on wording.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Union

from pulumi import automation as auto

from providers.core.errors import ProviderError, errors_in
from stacks.events import Step, StepRecorder
from stacks.spec import SpecError

# Failures of our own making that no retry mends: a spec the program cannot build.
PERMANENT_ENGINE_FAILURES = (SpecError, TypeError, ValueError, KeyError, AttributeError)

# gRPC's C core logs to the CLI's stderr ("E1130 00:03:46.490845 4751 ev_epoll1_linux.cc:373] ...")
# when a peer process dies; `mpanel chaos` saw such a line become a run's reason. It never is one.
GRPC_CORE_LOG = re.compile(r"^[EWIF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w./-]+\.cc:\d+\]")

# Steps of a drift check that change nothing (what the refresh read, resources left alone).
_OBSERVING = ("same", "read", "refresh")


@dataclass(frozen=True)
class Succeeded:
    """An `up` or a `destroy` that finished: the engine's change counts and the stack's outputs
    (secrets masked; read them with StackOperations.outputs)."""
    changes: dict[str, int] | None = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DriftChecked:
    """A refresh, then a preview: what reality changed behind the stack's back, what an `up`
    would change now, and the steps planned."""
    refreshed: dict[str, int]
    pending: dict[str, int]
    planned: list[Step]

    @property
    def drift(self) -> bool:
        return bool(self.pending or self.refreshed)


@dataclass(frozen=True)
class Failed:
    """A run that broke. `cause` is what was raised (kept, so the caller can raise from it)."""
    reason: str
    transient: bool
    provider_errors: tuple[ProviderError, ...]
    cause: BaseException


Outcome = Union[Succeeded, DriftChecked, Failed]


def failed(exc: BaseException, diagnostics: list[str]) -> Failed:
    """The reason and the retry decision, from data: the first structured provider error the
    engine passed on, else the engine's own exception type. A failure no provider explained (the
    engine could not reach its backend, another run holds the stack) is worth retrying."""
    found = tuple(errors_in("\n".join(diagnostics) + "\n" + str(exc)))
    if found:
        return Failed(found[0].reason[:1000], found[0].retryable, found, exc)
    # The CLI's own failures read "code: N / stdout: ... / stderr: <what went wrong>".
    text = diagnostics[0] if diagnostics else str(exc).rpartition("stderr:")[2]
    first = [line.strip() for line in text.splitlines()
             if line.strip() and not GRPC_CORE_LOG.match(line.strip())] or [type(exc).__name__]
    return Failed(first[0][:1000], not isinstance(exc, PERMANENT_ENGINE_FAILURES), found, exc)


def attempt(work: Callable[[], Outcome], recorder: StepRecorder) -> Outcome:
    """Whatever `work` raises (the engine, or what the caller does inside the run) as a Failed,
    explained by the diagnostics the recorder kept."""
    try:
        return work()
    except Exception as exc:  # whatever broke, the outcome says so
        return failed(exc, recorder.diagnostics)


def succeeded(result: auto.UpResult | auto.DestroyResult) -> Succeeded:
    outputs = getattr(result, "outputs", None) or {}
    return Succeeded(changes=result.summary.resource_changes,
                     outputs={key: value.value for key, value in outputs.items()})


def drift_checked(refreshed: auto.RefreshResult, preview: auto.PreviewResult,
                  recorder: StepRecorder) -> DriftChecked:
    return DriftChecked(
        refreshed={k: v for k, v in (refreshed.summary.resource_changes or {}).items() if k != "same" and v},
        pending={k: v for k, v in preview.change_summary.items() if k != "same" and v},
        planned=[step for step in recorder.steps
                 if step["status"] == "started" and step["op"] not in _OBSERVING])
