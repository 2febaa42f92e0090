"""What every WHM function takes and gives back, apart from HTTP.

A function reads the request's parameters (a mapping of strings, as WHM receives them)
and returns a ``Done`` or raises ``WhmFailure`` with the human reason WHM would give.
The HTTP layer (``sandbox.whm.app``) wraps both in WHM's envelope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..common.state import Transaction

Params = Mapping[str, str]


class WhmFailure(Exception):
    """A function failed: HTTP 200, metadata.result 0, this reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Done:
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = "OK"
    raw: str = ""


def required(params: Params, name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise WhmFailure(f"The “{name}” parameter is required.")
    return value


def find_account(state: Transaction, username: str) -> dict[str, Any]:
    account = state["accounts"].get(username)
    if account is None:
        raise WhmFailure(f"The account “{username}” does not exist.")
    return account
