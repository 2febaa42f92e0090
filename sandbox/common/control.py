"""The ``/_sandbox/`` control API every stand-in mounts beside its real protocol.

Tests use it to inject faults, read or wipe the state, and (through routes each
stand-in adds to the blueprint) change things behind the client's back. It is not
part of any real service, so it speaks its own small JSON: errors are
``{"error": code, "message": text}``. It has no authentication: the stand-ins listen
on loopback and hold only test data.
"""

from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, jsonify, request

from .faults import FaultRegistry, FaultSpecError, parse_fault
from .state import StateStore


class ControlError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def json_object() -> dict[str, Any]:
    """The request body, which every control route expects to be a JSON object."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ControlError(400, "bad_request", "body must be a JSON object")
    return body


def change_record(update: Callable[[dict[str, Any]], Any], missing: type[Exception], missing_code: str,
                  reason: Callable[[Any], str]):
    """A stored record changed by the request body (POST /_control/<kind>/<key>): 404 with
    `missing_code` when `update` says there is no such record, 400 when the change does not fit."""
    try:
        record = update(json_object())
    except missing as exc:
        raise ControlError(404, missing_code, reason(exc)) from exc
    except (TypeError, ValueError) as exc:
        raise ControlError(400, "bad_change", str(exc)) from exc
    return jsonify(record)


def control_blueprint(
    faults: FaultRegistry,
    store: StateStore,
    operations: frozenset[str],
    on_reset: Callable[[], None] | None = None,
) -> Blueprint:
    """The shared routes; the caller adds its own routes and then registers it.

    ``on_reset`` runs before the state is wiped, so it can still see what to clean up
    outside the state (WHM home directories).
    """
    bp = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")

    @bp.errorhandler(ControlError)
    def _control_error(exc: ControlError):
        return jsonify({"error": exc.code, "message": exc.message}), exc.status

    @bp.post("/faults")
    def add_fault():
        try:
            fault = faults.add(parse_fault(json_object(), operations))
        except FaultSpecError as exc:
            raise ControlError(400, "bad_fault", str(exc)) from exc
        return jsonify(fault.public()), 201

    @bp.delete("/faults")
    def clear_faults():
        faults.clear()
        return jsonify({"faults": []})

    @bp.get("/state")
    def dump_state():
        return jsonify({"state": store.dump(), "faults": faults.snapshot()})

    @bp.post("/reset")
    def reset():
        if on_reset is not None:
            on_reset()
        store.reset()
        faults.clear()
        return jsonify({"state": store.dump(), "faults": []})

    return bp
