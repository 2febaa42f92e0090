"""Upstream calls counted by service and outcome, with their latency (http.py reports each).

Providers know nothing of the app, so the metric lives here, created on the first call: the
dynamic-provider server and the worker count in their own processes, and with
PROMETHEUS_MULTIPROC_DIR in their environment the app's `/metrics` sums them. A process
without prometheus_client (never the case in an install) simply does not count.
"""
from __future__ import annotations

import threading

_lock = threading.Lock()
_metrics: tuple | None = None


def _upstream():
    global _metrics
    with _lock:
        if _metrics is None:
            from prometheus_client import Counter, Histogram

            _metrics = (
                Counter("mpanel_upstream_calls", "Calls to upstream APIs, by service and outcome "
                        "(ok, refused: a 4xx, transient: 429/5xx, unreachable, timeout)", ["service", "outcome"]),
                Histogram("mpanel_upstream_call_seconds", "Upstream API latency, by service", ["service"],
                          buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)),
            )
        return _metrics


def upstream_call(service: str, outcome: str, seconds: float) -> None:
    try:
        calls, latency = _upstream()
    except ImportError:
        return
    calls.labels(service, outcome).inc()
    latency.labels(service).observe(seconds)
