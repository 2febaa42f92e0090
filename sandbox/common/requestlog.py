"""One log line per request, with secrets in the query string masked.

Both upstream protocols put secrets in URLs (NameSilo's API key, WHM passwords when a
client sends them by GET), so the line is built from the parsed query with the named
parameters replaced. Bodies and headers (WHM's Authorization) are never logged.
Implemented as WSGI middleware so that every answer is logged, fault pages included.
The same time is sent back in a ``Server-Timing`` header, so a bench can tell the
stand-in's own time from the network's and the client's.
"""

from __future__ import annotations

import logging
import time
from typing import Iterable
from urllib.parse import parse_qsl, urlencode

REDACTED = "REDACTED"


def redact_query(query: str, secret_params: Iterable[str]) -> str:
    secrets = {name.lower() for name in secret_params}
    pairs = parse_qsl(query, keep_blank_values=True)
    masked = [(name, REDACTED if name.lower() in secrets else value) for name, value in pairs]
    return urlencode(masked, safe=",:/")


class RequestLog:
    def __init__(self, wsgi_app, logger: logging.Logger, secret_params: Iterable[str]):
        self.wsgi_app = wsgi_app
        self.logger = logger
        self.secret_params = tuple(secret_params)

    def __call__(self, environ, start_response):
        started = time.monotonic()

        def logging_start_response(status, headers, exc_info=None):
            elapsed = time.monotonic() - started
            self._log(environ, status.split(" ", 1)[0], elapsed)
            return start_response(status, [*headers, ("Server-Timing", f"app;dur={elapsed * 1000:.2f}")], exc_info)

        return self.wsgi_app(environ, logging_start_response)

    def _log(self, environ, status: str, elapsed: float) -> None:
        target = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        if query:
            target += "?" + redact_query(query, self.secret_params)
        self.logger.info(
            '%s "%s %s" %s %.1fms',
            environ.get("REMOTE_ADDR", "-"), environ.get("REQUEST_METHOD", "-"), target,
            status, elapsed * 1000,
        )
