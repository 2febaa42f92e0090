"""Engine events as data: one row-shaped dict per resource step, secrets masked.

The worker writes each step to the database as it happens (architecture decision 8),
so the customer's progress page and the operators' tools read the same record.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from pulumi.automation import events

Step = dict[str, Any]
StepSink = Callable[[Step], None]

# The engine's marker of a secret value inside a property map.
SECRET_SIG = "4dabf18193072939515e22adb298388d"


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


def mask(value: Any) -> Any:
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return "[secret]"
        return {k: mask(v) for k, v in value.items() if k != "__provider"}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def _property_changes(meta: events.StepEventMetadata) -> dict[str, dict]:
    """old -> new for each changed input, secrets masked."""
    old = mask(dict(meta.old.inputs or {})) if meta.old else {}
    new = mask(dict(meta.new.inputs or {})) if meta.new else {}
    keys = meta.diffs or sorted(set(old) | set(new))
    return {k: {"old": old.get(k), "new": new.get(k)} for k in keys
            if k != "__provider" and old.get(k) != new.get(k)}
