"""Fixtures shared by the stand-in tests: no network, no real waiting."""

from __future__ import annotations

import pytest


class RecordedSleeps(list):
    """Stands in for time.sleep: remembers each requested pause instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()
