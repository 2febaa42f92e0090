"""Engine events as data: one row-shaped dict per resource step, secrets masked.

The worker writes each step to the database as it happens (architecture decision 8),
so the customer's progress page and the operators' tools read the same record.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from pulumi.automation import events

from stacks.diff import DESTRUCTIVE, changed, record_changes

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
    # What an `up`'s program exported, secrets plain (stacks/program.py), for the run's caller
    # only: kept in memory, never in a step row, a log or this object's repr.
    exported: dict[str, Any] | None = field(default=None, repr=False)
    saw_pending_operations: bool = False  # the engine warned it went ahead despite a dead run's leftovers
    _started: dict[str, float] = field(default_factory=dict)
    _refreshing: set[str] = field(default_factory=set)

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
        drift: dict[str, dict] = {}
        if status == "started" and op == "refresh":
            self._refreshing.add(meta.urn)
        elif status == "done" and meta.urn in self._refreshing:
            # A refresh reports what it read as the outputs event of the resource: drift.
            self._refreshing.discard(meta.urn)
            if op == "same":
                return
            op, drift = "refresh", _drift(meta)
        key = f"{meta.urn}:{op}"
        step: Step = {"urn": meta.urn, "resource_type": _kind(meta), "resource_name": meta.urn.rsplit("::", 1)[-1],
                      "op": op, "status": status, "diffs": list(meta.diffs or [])}
        if meta.detailed_diff:
            step["detailed_diff"] = {k: (v.diff_kind.value if hasattr(v.diff_kind, "value") else str(v.diff_kind))
                                     for k, v in meta.detailed_diff.items()}
        if op in DESTRUCTIVE and meta.old is not None and meta.old.id:
            step["id"] = meta.old.id  # what the step would destroy upstream
        if status == "started":
            self._started[key] = time.monotonic()
            step["changes"] = _property_changes(meta)
        elif op == "refresh" and status == "done":
            step["changes"] = drift
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
    """old -> new for each changed input, secrets masked. The old side is what the engine last
    read (its outputs, which a refresh updates), so drift fixed by this step shows as a change;
    a zone's records are compared one by one with what its inputs make."""
    old_inputs = mask(dict(meta.old.inputs or {})) if meta.old else {}
    old_outputs = mask(dict(meta.old.outputs or {})) if meta.old else {}
    old = {**old_inputs, **{k: v for k, v in old_outputs.items() if k in old_inputs}}
    new = mask(dict(meta.new.inputs or {})) if meta.new else {}
    changes = changed(old, new, meta.diffs or sorted(set(old) | set(new)))
    if meta.old and "rrsets" in old_outputs and meta.new:
        changes.update(record_changes(old_outputs["rrsets"], _zone_records(new, old_outputs)))
    return changes


def _zone_records(inputs: dict, old_outputs: dict) -> list[dict] | None:
    """The records a zone's inputs make (the provider's own rule), or None while unknown."""
    from stacks.diff import UNKNOWN

    if UNKNOWN in str(inputs):
        return None
    try:
        from providers.resources.dns_zone import rrset_list
        from providers.rules.dns_records import desired_rrsets

        return rrset_list(desired_rrsets(inputs, old_outputs.get("dkim_public_key") or ""))
    except (KeyError, TypeError, ValueError):
        return None


def _drift(meta: events.StepEventMetadata) -> dict[str, dict]:
    """What a refresh read that differs from what the state held."""
    if meta.new is None:
        return {"exists": {"old": True, "new": False}}
    old = mask(dict(meta.old.outputs or {})) if meta.old else {}
    new = mask(dict(meta.new.outputs or {}))
    drift = changed(old, new)
    if "rrsets" in drift:
        drift.pop("rrsets")
        drift.update(record_changes(old.get("rrsets"), new.get("rrsets")))
    return drift
