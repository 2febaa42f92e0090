"""The counters and histograms, one definition each.

Several processes count (the web app's, each worker child, the dynamic-provider server the
engine starts): with PROMETHEUS_MULTIPROC_DIR set (the CLI sets it for `serve`, `worker` and
`run` before anything imports prometheus_client: app/cli/__init__.py), each process writes its
own file there and `/metrics` (app/web/metrics.py) sums them. Without it (tests, a Python
shell) they count in this process only.
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

WEBHOOKS_RECEIVED = Counter("mpanel_webhooks_received", "Stripe webhook deliveries accepted (verified)",
                            ["duplicate"])
WEBHOOKS_REFUSED = Counter("mpanel_webhooks_refused", "Stripe webhook deliveries refused, by reason", ["reason"])
CHECKOUTS = Counter("mpanel_checkouts", "Checkouts opened (a Stripe Checkout Session, or a free test order)")
CONVERGES = Counter("mpanel_converges", "Engine runs finished, by kind (up, destroy, refresh) and outcome "
                    "(succeeded, transient, permanent)", ["kind", "outcome"])
CONVERGE_SECONDS = Histogram("mpanel_converge_duration_seconds", "How long an engine run took, by kind",
                             ["kind"], buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800))
EMAILS = Counter("mpanel_emails", "Emails handed to SMTP (sent) or refused by it (failed), by kind",
                 ["kind", "outcome"])


def converge_finished(kind: str, outcome: str, seconds: float) -> None:
    CONVERGES.labels(kind, outcome).inc()
    CONVERGE_SECONDS.labels(kind).observe(seconds)
