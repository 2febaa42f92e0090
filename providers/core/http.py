"""The HTTP boundary: nothing from `requests` crosses it except a response or a ProviderError."""
from __future__ import annotations

import re
import time
from typing import Any, Iterable

import requests

from providers.core.errors import ProviderError
from providers.core.metering import upstream_call

TRANSIENT_STATUSES = (429, 500, 502, 503, 504)
_SECRET_QUERY = re.compile(r"((?:key|token|password|api_key|auth)=)[^&\s]+", re.IGNORECASE)


def redact(text: str) -> str:
    """Hide credentials that ride in query strings (NameSilo's key) from messages and logs."""
    return _SECRET_QUERY.sub(r"\1REDACTED", text)


def http(provider: str, method: str, url: str, *, timeout: float = 30.0,
         retry_statuses: Iterable[int] = TRANSIENT_STATUSES, **kwargs) -> requests.Response:
    """One HTTP exchange; transport failures and 5xx become retryable ProviderErrors."""
    # `from None` below is deliberate: a requests exception's text carries the full URL,
    # and with it any key in the query string.
    started = time.perf_counter()
    try:
        response = requests.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout:
        upstream_call(provider, "timeout", time.perf_counter() - started)
        raise ProviderError(provider, f"timed out after {timeout:.0f}s calling {redact(url)}",
                            retryable=True) from None
    except requests.RequestException as exc:
        upstream_call(provider, "unreachable", time.perf_counter() - started)
        raise ProviderError(provider, f"cannot reach {redact(url)}: {type(exc).__name__}",
                            retryable=True) from None
    transient = response.status_code in set(retry_statuses)
    upstream_call(provider, "transient" if transient else "refused" if response.status_code >= 400 else "ok",
                  time.perf_counter() - started)
    if transient:
        raise ProviderError(provider, f"upstream answered {response.status_code} {response.reason}",
                            status=response.status_code, retryable=True)
    return response


def param_value(value: Any) -> str:
    """A parameter as the legacy query/form APIs (WHM API 1, NameSilo) read it: booleans as 1/0,
    whole floats without their ".0"."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
