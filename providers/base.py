"""What every provider shares: one error type, one retry policy, one HTTP boundary.

A provider module has the same shape everywhere: a private client that speaks the
upstream protocol and raises `ProviderError`, and a `ResourceProvider` adapter that
maps Pulumi's check/diff/create/read/update/delete onto it. Nothing from `requests`
crosses a client's interface: callers tell not-found from rate-limited from bad
credentials by `ProviderError.code`, `.status` and `.retryable`.

Endpoints and credentials are looked up at run time (`runtime_settings()`), never
stored on the provider object: Pulumi pickles provider objects into the state.
"""
from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, TypeVar

import requests

T = TypeVar("T")


class ProviderError(Exception):
    """An upstream failure, worded for people, classified for machines."""

    def __init__(self, provider: str, message: str, *, code: Any = None, status: int | None = None,
                 retryable: bool = False):
        self.provider = provider
        self.message = message
        self.code = code
        self.status = status
        self.retryable = retryable
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.code is not None:
            where.append(f"code {self.code}")
        if self.status is not None:
            where.append(f"HTTP {self.status}")
        suffix = f" ({', '.join(where)})" if where else ""
        kind = "transient" if self.retryable else "permanent"
        return f"{self.provider}: {self.message}{suffix} [{kind}]"


class NotFound(ProviderError):
    """The object does not exist upstream (read returns it as deleted, delete succeeds)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by a deadline rather than a count."""

    deadline: float = 60.0
    first_delay: float = 0.25
    max_delay: float = 8.0

    def run(self, fn: Callable[[], T], *, clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> T:
        give_up_at = clock() + self.deadline
        delay = self.first_delay
        while True:
            try:
                return fn()
            except ProviderError as exc:
                if not exc.retryable or clock() + delay > give_up_at:
                    raise
            sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, self.max_delay)


DEFAULT_RETRY = RetryPolicy()

_SECRET_QUERY = re.compile(r"((?:key|token|password|api_key|auth)=)[^&\s]+", re.IGNORECASE)


def redact(text: str) -> str:
    """Hide credentials that ride in query strings (NameSilo's key) from messages and logs."""
    return _SECRET_QUERY.sub(r"\1REDACTED", text)


def http(provider: str, method: str, url: str, *, timeout: float = 30.0,
         retry_statuses: Iterable[int] = (429, 500, 502, 503, 504), **kwargs) -> requests.Response:
    """One HTTP exchange; transport failures and 5xx become retryable ProviderErrors."""
    # `from None` below is deliberate: a requests exception's text carries the full URL,
    # and with it any key in the query string.
    try:
        response = requests.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise ProviderError(provider, f"timed out after {timeout:.0f}s calling {redact(url)}",
                            retryable=True) from None
    except requests.RequestException as exc:
        raise ProviderError(provider, f"cannot reach {redact(url)}: {type(exc).__name__}",
                            retryable=True) from None
    if response.status_code in set(retry_statuses):
        raise ProviderError(provider, f"upstream answered {response.status_code} {response.reason}",
                            status=response.status_code, retryable=True)
    return response


def runtime_settings():
    """The worker's settings, read when an operation runs (never pickled into state)."""
    from app.settings import Settings

    return Settings.from_env()


# --- inputs as check() receives them -------------------------------------------------------

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


def is_unknown(value: Any) -> bool:
    """A value a preview does not know yet (another resource's output): check cannot judge it."""
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    return isinstance(value, Unknown) or value == rpc.UNKNOWN


def is_hostname(name: Any) -> bool:
    """A fully qualified host name: LDH labels, at least two, an alphabetic (or punycode) TLD."""
    if not isinstance(name, str):
        return False
    name = name.strip().lower().rstrip(".")
    labels = name.split(".")
    return (len(name) <= 253 and len(labels) >= 2 and all(_LABEL.match(label) for label in labels)
            and bool(_TLD.match(labels[-1])))


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
