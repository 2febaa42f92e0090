"""How long a failed job waits before its next try: capped exponential backoff with jitter,
for as long as the work is still owed (architecture decision 10: nothing is abandoned).

procrastinate's own RetryStrategy grows without a cap (5^(n+1) s put the next try of an email
hours away after a one-hour SMTP outage) or stops after a count; this one doubles from
`first` up to `cap` and never gives up unless `max_attempts` says so.

For the first `early_for` seconds of failures the wait is capped at `early_cap` (5 minutes)
instead: a customer who paid during a 15-minute WHM outage is provisioned minutes after it
ends, not up to 17 minutes later (measured with `mpanel chaos --whm-outage 900`). Past that,
the hour cap keeps a long outage from costing a try every few minutes.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterable

import psycopg
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision

# A database connection lost mid-job (a restart, a failover, pg_terminate_backend) says nothing
# about the work itself: always worth another try, whatever failures a task names. Found by
# `mpanel chaos`: a converge whose failure could not be recorded (connection dropped) was
# given up on, leaving its order 'provisioning' for ever.
ALWAYS_RETRIED = (psycopg.OperationalError,)


@dataclass
class CappedBackoff(BaseRetryStrategy):
    first: float = 2.0          # seconds before the second try
    cap: float = 3600.0         # never wait longer than this between tries
    jitter: float = 0.25        # +-25%, so a burst of failures does not retry in lockstep
    early_cap: float = 300.0    # the cap while the failures are younger than `early_for`
    early_for: float = 7200.0   # seconds of (nominal) waiting before `cap` takes over
    max_attempts: int | None = None
    retry_exceptions: Iterable[type[Exception]] | None = None
    never_retry: Iterable[type[Exception]] = ()  # failures no retry can mend (the thing is gone)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failure (1-based)."""
        base = self._nominal(attempts)[-1]
        return max(1.0, base * (1 + self.jitter * (2 * self.rng.random() - 1)))

    def _nominal(self, attempts: int) -> list[float]:
        """The waits after failures 1..`attempts` without jitter: doubling, capped at
        `early_cap` while their sum is under `early_for`, then at `cap`."""
        waits: list[float] = []
        waited = 0.0
        for n in range(1, max(1, attempts) + 1):
            cap = min(self.cap, self.early_cap) if waited < self.early_for else self.cap
            waits.append(min(cap, self.first * 2 ** min(n - 1, 40)))
            waited += waits[-1]
        return waits

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if self.max_attempts and job.attempts >= self.max_attempts:
            return None
        if self.retry_exceptions and not isinstance(exception, (*self.retry_exceptions, *ALWAYS_RETRIED)):
            return None
        if isinstance(exception, tuple(self.never_retry)):
            return None
        return RetryDecision(retry_in={"seconds": int(self.delay(job.attempts + 1))})
