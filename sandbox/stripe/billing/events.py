"""The event log as the API lists it (``type`` / ``types`` filters, ``invoice.*`` patterns)."""

from __future__ import annotations

from typing import Callable

from ..objects import Ledger, Object
from ..params import Params, invalid


class Events:
    """events.*"""

    def retrieve_event(self, led: Ledger, p: Params, event_id: str) -> Object:
        return led.get("event", event_id)

    def list_events(self, led: Ledger, p: Params) -> Object:
        event_type, types = p.text("type"), p.strings("types")
        if event_type and types:
            raise invalid("You may only specify one of these parameters: type, types.")
        wanted = _type_matcher([event_type] if event_type else types)
        exact = event_type if event_type and not event_type.endswith("*") else None
        return led.page("event", (e for e in led.newest_first("event", type=exact) if wanted(e["type"])), p)


def _type_matcher(patterns: list[str]) -> Callable[[str], bool]:
    """Stripe's event type filters: exact names or a trailing ``*`` (``invoice.*``)."""
    if not patterns:
        return lambda _type: True

    def matches(event_type: str) -> bool:
        return any(event_type == p or (p.endswith("*") and event_type.startswith(p[:-1])) for p in patterns)
    return matches
