"""The one exception root of the providers, and its encoding across the engine boundary.

A `ProviderError` raised inside the dynamic-provider process reaches the worker only as
text (the traceback the provider process hands the engine, then the engine's diagnostic
or `CommandError` stderr). So its text ends with a machine-readable trailer,

    whm: createacct: upstream answered 503 (HTTP 503) [transient] [mpanel-error {"code":null,...}]

and `errors_in(text)` finds and decodes every such trailer in a blob of engine output.
The JSON is ASCII-only (`ensure_ascii`), so it is always one line whatever the message
holds (newlines, quotes, brackets, any script), and the engine's indenting of lines
cannot split it.
"""
from __future__ import annotations

import json
import re
from typing import Any

MARK = "[mpanel-error "


class ProviderError(Exception):
    """An upstream failure, worded for people, classified for machines."""

    kind = "error"

    def __init__(self, provider: str, message: str, *, code: Any = None, status: int | None = None,
                 retryable: bool = False):
        self.provider = provider
        self.message = message
        self.code = code
        self.status = status
        self.retryable = retryable
        super().__init__(provider, message)

    @property
    def reason(self) -> str:
        """What a customer or an operator reads: the provider and the human sentence."""
        return f"{self.provider}: {self.message}"

    def __str__(self) -> str:
        where = []
        if self.code is not None:
            where.append(f"code {self.code}")
        if self.status is not None:
            where.append(f"HTTP {self.status}")
        suffix = f" ({', '.join(where)})" if where else ""
        kind = "transient" if self.retryable else "permanent"
        return f"{self.reason}{suffix} [{kind}] {encode(self)}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.provider!r}, {self.message!r}, code={self.code!r}, "
                f"status={self.status!r}, retryable={self.retryable!r})")

    def __reduce__(self):
        # Exceptions pickle through their args; keep the keyword fields too.
        return _rebuild, (self.kind, self.provider, self.message, self.code, self.status, self.retryable)


class NotFound(ProviderError):
    """The object does not exist upstream (read reports it deleted, delete succeeds)."""

    kind = "not_found"


class NotOurs(ProviderError):
    """An object with the wanted natural key exists upstream without our mark: never adopted."""

    kind = "not_ours"

    def __init__(self, provider: str, message: str, *, code: Any = "not_ours", **kwargs):
        super().__init__(provider, message, code=code, **kwargs)


class NeedsOperator(ProviderError):
    """A converge would destroy customer data (replace an account, move an object between
    stacks): never done as a side effect; the run fails until a person decides."""

    kind = "needs_operator"

    def __init__(self, provider: str, message: str, *, code: Any = "needs_operator", **kwargs):
        super().__init__(provider, message, code=code, **kwargs)


_KINDS = {cls.kind: cls for cls in (ProviderError, NotFound, NotOurs, NeedsOperator)}


def _rebuild(kind, provider, message, code, status, retryable) -> ProviderError:
    return _KINDS.get(kind, ProviderError)(provider, message, code=code, status=status, retryable=retryable)


def encode(error: ProviderError) -> str:
    """The one-line machine-readable form of an error (what `errors_in` decodes)."""
    code = error.code if error.code is None or isinstance(error.code, (str, int, float, bool)) else str(error.code)
    fields = {"provider": error.provider, "kind": error.kind, "code": code, "status": error.status,
              "retryable": bool(error.retryable), "message": error.message}
    return MARK + json.dumps(fields, ensure_ascii=True, separators=(",", ":")) + "]"


def decode(fields: dict) -> ProviderError:
    return _rebuild(fields.get("kind"), str(fields.get("provider") or "unknown"), str(fields.get("message") or ""),
                    fields.get("code"), fields.get("status"), bool(fields.get("retryable")))


# A line break the engine (or a terminal) put into the middle of a trailer, with the
# indentation of the continuation line: the encoded JSON itself never contains one.
_BREAK = re.compile(r"\r?\n[ \t|]*")


def errors_in(text: str) -> list[ProviderError]:
    """Every encoded ProviderError in a blob of engine output, in order of appearance.

    The same error usually appears more than once (diagnostic, summary, stderr): every
    occurrence is returned; callers take the first or ask whether any is permanent.
    """
    found: list[ProviderError] = []
    decoder = json.JSONDecoder()
    start = text.find(MARK)
    while start != -1:
        rest = text[start + len(MARK):]
        fields = _decode_at(decoder, rest)
        if fields is None:
            fields = _decode_at(decoder, _BREAK.sub("", rest))
        if isinstance(fields, dict):
            found.append(decode(fields))
        start = text.find(MARK, start + len(MARK))
    return found


def _decode_at(decoder: json.JSONDecoder, text: str) -> Any:
    try:
        value, end = decoder.raw_decode(text)
    except ValueError:
        return None
    return value if text[end:end + 1] == "]" else None
