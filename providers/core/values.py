"""Input values as the engine hands them to check and diff."""
from __future__ import annotations

from typing import Any, Iterable

# pulumi.runtime.rpc.UNKNOWN: a value a preview does not know yet (another resource's output).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# How the engine marks a secret value it passes wrapped (pulumi.runtime.rpc._special_secret_sig).
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_SIG_KEY = "4dabf18193072939515e22adb298388d"


def is_unknown(value: Any) -> bool:
    """True when the value, or anything inside it, is not known yet: check cannot judge it."""
    if isinstance(value, str):
        return value == UNKNOWN
    if isinstance(value, dict):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_unknown(v) for v in value)
    return type(value).__name__ == "Unknown"  # pulumi.output.Unknown, without importing the runtime


def plain(value: Any) -> Any:
    """A secret the engine passed wrapped, unwrapped (providers handle secrets as plain values)."""
    if isinstance(value, dict) and value.get(_SIG_KEY) == _SECRET_SIG:
        return value.get("value")
    return value


def whole_number(value: Any) -> int | None:
    """Pulumi sends numbers as floats; accept 5120, 5120.0 and "5120", nothing fractional."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def changed_keys(olds: dict, news: dict, keys: Iterable[str]) -> list[str]:
    return [k for k in keys if olds.get(k) != news.get(k)]
