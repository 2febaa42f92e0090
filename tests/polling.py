"""Waiting for a state, never for a time: poll with a deadline."""
from __future__ import annotations

import time


def wait_for(predicate, deadline: float = 60, what: str = "condition", every: float = 0.1):
    """The predicate's first truthy value; an AssertionError naming `what` once the deadline passes."""
    give_up = time.monotonic() + deadline
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {deadline:.0f}s waiting for {what}")
        time.sleep(every)
