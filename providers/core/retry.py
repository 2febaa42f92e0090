"""One retry policy: exponential backoff with jitter, bounded by a deadline, not a count."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from providers.core.errors import ProviderError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    deadline: float = 60.0
    first_delay: float = 0.25
    max_delay: float = 8.0

    def run(self, fn: Callable[[], T], *, clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> T:
        """`fn()`, again after a pause for as long as it fails retryably and the deadline allows."""
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
