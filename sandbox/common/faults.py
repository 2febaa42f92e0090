"""Fault injection shared by the stand-ins.

A fault is keyed by an operation name (``createacct``, ``registerDomain``) or ``*``
for every operation, and has one of four kinds:

``code``
    The operation is not run; the stand-in answers its own protocol's failure
    (NameSilo ``reply.code``, WHM ``metadata.result = 0`` with ``reason``).
``http``
    The operation is not run; the answer is a bare HTTP 5xx page, as a load balancer
    in front of the real service would send. Clients must not expect JSON.
``timeout``
    The answer is held back ``seconds``. With ``commit`` true (the default) the
    operation runs first, so the work is done even though the client gave up: the
    case that makes "look up before create" necessary. With ``commit`` false the
    operation does not run and the late answer is an HTTP 504.
``latency``
    The operation runs normally after ``ms`` milliseconds.

``count`` says how many requests the fault fires for (default 1; 0 = until the
faults are cleared). Latency faults add up with each other and with at most one
outcome fault (code, http, timeout); an outcome fault keyed by the exact operation
wins over one keyed by ``*``, and among equals the oldest fires first.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from flask import Response

KINDS = ("code", "http", "timeout", "latency")
ANY_OPERATION = "*"


class FaultSpecError(ValueError):
    """A fault description sent to the control API does not make sense."""


@dataclass
class Fault:
    operation: str
    kind: str
    count: int = 1
    code: int | None = None
    status: int | None = None
    seconds: float | None = None
    ms: float | None = None
    reason: str | None = None
    commit: bool = True
    id: int = 0
    fired: int = 0

    @property
    def remaining(self) -> int | None:
        return None if self.count == 0 else self.count - self.fired

    def public(self) -> dict[str, Any]:
        return {**asdict(self), "remaining": self.remaining}


def parse_fault(spec: Any, operations: frozenset[str]) -> Fault:
    """Validate a control-API request body and turn it into a Fault."""
    if not isinstance(spec, dict):
        raise FaultSpecError("body must be a JSON object")
    operation = spec.get("operation")
    if operation != ANY_OPERATION and operation not in operations:
        # Catch typos such as "createAcct" here rather than as a fault that never fires.
        raise FaultSpecError(f"unknown operation {operation!r}; known: {sorted(operations)} or '*'")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise FaultSpecError(f"kind must be one of {list(KINDS)}")
    fault = Fault(
        operation=operation,
        kind=kind,
        count=_number(spec, "count", int, minimum=0),
        code=_number(spec, "code", int),
        status=_number(spec, "status", int),
        seconds=_number(spec, "seconds", float, minimum=0),
        ms=_number(spec, "ms", float, minimum=0),
        reason=spec.get("reason"),
        commit=bool(spec.get("commit", True)),
    )
    if fault.count is None:
        fault.count = 1
    if fault.reason is not None and not isinstance(fault.reason, str):
        raise FaultSpecError("reason must be a string")
    if kind == "code" and fault.code is None and not fault.reason:
        raise FaultSpecError("a code fault needs code (NameSilo) or reason (WHM)")
    if kind == "http":
        fault.status = 503 if fault.status is None else fault.status
        if not 500 <= fault.status <= 599:
            raise FaultSpecError("an http fault needs a 5xx status")
    if kind == "timeout" and fault.seconds is None:
        raise FaultSpecError("a timeout fault needs seconds")
    if kind == "latency" and fault.ms is None:
        raise FaultSpecError("a latency fault needs ms")
    return fault


def _number(spec: dict, name: str, kind: type, default=None, minimum=None):
    value = spec.get(name, default)
    if value is None:
        return None
    try:
        # bool is an int in Python; true/false is never a sensible count or status.
        if isinstance(value, bool):
            raise TypeError
        number = kind(value)
    except (TypeError, ValueError):
        raise FaultSpecError(f"{name} must be a number") from None
    if minimum is not None and number < minimum:
        raise FaultSpecError(f"{name} must be >= {minimum}")
    return number


@dataclass
class FaultPlan:
    """What the faults in force say about one request."""

    delay_seconds: float = 0.0
    outcome: Fault | None = None


class FaultRegistry:
    def __init__(self, sleep: Callable[[float], None] = time.sleep):
        # Injected so tests can check a hang without spending the time.
        self.sleep = sleep
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
            return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.public() for fault in self._faults]

    def take(self, operation: str) -> FaultPlan:
        """Claim the faults that fire for one request of ``operation``."""
        with self._lock:
            matching = [f for f in self._faults if f.operation in (operation, ANY_OPERATION)]
            plan = FaultPlan()
            fired = [f for f in matching if f.kind == "latency"]
            plan.delay_seconds = sum(f.ms for f in fired) / 1000.0
            outcomes = [f for f in matching if f.kind != "latency"]
            outcomes.sort(key=lambda f: (f.operation == ANY_OPERATION, f.id))
            if outcomes:
                plan.outcome = outcomes[0]
                fired.append(plan.outcome)
            for fault in fired:
                fault.fired += 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
            return plan

    def answer(
        self,
        operation: str,
        run: Callable[[], Response],
        refuse: Callable[[Fault], Response],
    ) -> Response:
        """Run one request under the faults in force.

        ``run`` performs the operation and renders its answer; ``refuse`` renders a
        code fault in the stand-in's own protocol. Keeping this here is what lets both
        stand-ins share the fault semantics without sharing their envelopes.
        """
        plan = self.take(operation)
        if plan.delay_seconds:
            self.sleep(plan.delay_seconds)
        fault = plan.outcome
        if fault is None:
            return run()
        if fault.kind == "code":
            return refuse(fault)
        if fault.kind == "http":
            return upstream_error_page(fault.status)
        # timeout
        response = run() if fault.commit else upstream_error_page(504)
        self.sleep(fault.seconds)
        return response


def upstream_error_page(status: int) -> Response:
    text = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}.get(status, "Server Error")
    body = f"<html><head><title>{status} {text}</title></head><body><h1>{text}</h1></body></html>\n"
    return Response(body, status=status, mimetype="text/html")
