"""Small pieces every resource family uses: parameter defaults, currency codes,
snapshots for ``previous_attributes``, and the ``*.created`` and ``*.updated`` events.
"""

from __future__ import annotations

import copy

from ..objects import Ledger, Object, changed_attributes
from ..params import Params, invalid


def flag(value: bool | None, default: bool) -> bool:
    return default if value is None else value


def snapshot(obj: Object) -> Object:
    return copy.deepcopy(obj)


def currency_param(p: Params, name: str, required: bool) -> str | None:
    value = p.text(name, required=required)
    if value is None:
        return None
    if len(value) != 3 or not value.isalpha():
        raise invalid(f"Invalid currency: {value}", p.path(name))
    return value.lower()


def add_created(led: Ledger, obj: Object) -> Object:
    """Store a new object and emit its ``<object>.created`` event."""
    led.add(obj)
    led.emit(f"{obj['object']}.created", obj)
    return obj


def emit_update(led: Ledger, event_type: str, before: Object, after: Object) -> Object:
    """Emit ``event_type`` with the changed attributes, unless nothing changed."""
    previous = changed_attributes(before, after)
    if previous:
        led.emit(event_type, after, previous)
    return after
