"""NameSilo's reply codes and what an operation gives back.

Each operation returns a ``Reply`` (code 300/301/302 plus reply fields) or raises
``ReplyError`` with the documented failure code; the HTTP layer (``sandbox.namesilo.app``)
wraps both in NameSilo's envelope with the code's ``DETAILS`` text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DETAILS = {
    102: "No version specified",
    103: "Invalid API version",
    104: "No type specified",
    105: "Invalid API type",
    107: "Invalid API operation",
    108: "Missing parameters for the specified operation",
    110: "Invalid API Key",
    113: "API access is not allowed from this IP address",
    114: "Invalid domain name syntax",
    115: "Our registry is not responding, please try again later",
    119: "Insufficient account funds to complete this operation",
    200: "Domain is not active, or does not belong to this user",
    201: "Internal system error",
    210: "General error",
    250: "Domain is already set to AutoRenew - No update made.",
    251: "Domain is already not set to AutoRenew - No update made.",
    252: "Domain is already Locked - No update made.",
    253: "Domain is already Unlocked - No update made.",
    254: "NameServer update cannot be made",
    261: "Domain is not available to register",
    262: "This domain is already active within our system and therefore cannot be processed.",
    263: "Invalid number of years, or no years provided.",
    264: "Domain cannot be renewed for specified number of years",
    265: "Domain cannot be transferred at this time",
    266: "No domain transfer exists for this user for this domain",
    267: "Invalid domain name, or we do not support the provided extension/TLD.",
    280: "DNS modification error",
    300: "success",
    301: ("Your domain was registered successfully, but not all provided hosts were valid "
          "resulting in our nameservers being used"),
    302: "Your order was processed successfully, but contact data was replaced by your account default",
    400: "Existing API request is still processing - request denied",
}


class ReplyError(Exception):
    def __init__(self, code: int, detail: str | None = None):
        super().__init__(detail or DETAILS.get(code, "error"))
        self.code = code
        self.detail = detail or DETAILS.get(code, "error")


@dataclass
class Reply:
    fields: dict[str, Any] = field(default_factory=dict)
    code: int = 300

