"""Failed jobs come back with capped exponential backoff, for as long as the work is owed."""
from __future__ import annotations

import random
from types import SimpleNamespace

from app.jobs.retry import CappedBackoff
from app.services.hosting.errors import PermanentConvergeError, TransientConvergeError


def job(attempts: int):
    return SimpleNamespace(attempts=attempts)


def test_the_wait_doubles_and_is_capped_at_an_hour_without_jitter():
    strategy = CappedBackoff(first=5, cap=3600, jitter=0, early_for=0)
    assert [strategy.delay(n) for n in range(1, 13)] == \
        [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]


def test_an_hour_long_outage_is_followed_by_a_try_within_the_hour():
    strategy = CappedBackoff(first=5, cap=3600, jitter=0.25)
    elapsed, tries = 0.0, 0
    while elapsed < 3600:
        tries += 1
        elapsed += strategy.delay(tries)
    assert elapsed - 3600 <= 3600 * 1.25


def test_for_the_first_two_hours_of_failures_the_wait_is_capped_at_five_minutes():
    strategy = CappedBackoff(first=4, cap=3600, jitter=0)
    waits = [strategy.delay(n) for n in range(1, 40)]
    assert waits[:8] == [4, 8, 16, 32, 64, 128, 256, 300]
    early = [w for w in waits if w == 300]
    assert 4 + 8 + 16 + 32 + 64 + 128 + 256 + sum(early) >= 7200 > 508 + sum(early[:-1])
    assert waits[len(early) + 7:] == [3600] * (len(waits) - len(early) - 7)


def test_a_fifteen_minute_outage_is_followed_by_a_try_within_about_six_minutes():
    # The acceptance: an order whose WHM was down 15 minutes is active minutes after.
    for seed in range(50):
        strategy = CappedBackoff(first=4, cap=3600, jitter=0.25, rng=random.Random(seed))
        elapsed, tries = 0.0, 0
        while elapsed < 900:
            tries += 1
            elapsed += strategy.delay(tries)
        assert elapsed - 900 <= 300 * 1.25


def test_a_cap_below_the_early_cap_still_holds():
    assert CappedBackoff(first=2, cap=30, jitter=0).delay(10) == 30


def test_jitter_spreads_retries_within_a_quarter_either_way():
    strategy = CappedBackoff(first=100, cap=3600, jitter=0.25, rng=random.Random(7))
    delays = {strategy.delay(1) for _ in range(200)}
    assert min(delays) >= 75 and max(delays) <= 125 and len(delays) > 50


def test_a_job_is_retried_after_any_number_of_failures():
    strategy = CappedBackoff(first=5, cap=3600)
    assert strategy.get_retry_decision(exception=RuntimeError("smtp down"), job=job(500)) is not None


def test_only_the_failures_named_are_retried():
    strategy = CappedBackoff(retry_exceptions={TransientConvergeError})
    assert strategy.get_retry_decision(exception=TransientConvergeError("503"), job=job(3)) is not None
    assert strategy.get_retry_decision(exception=PermanentConvergeError("not ours"), job=job(3)) is None


def test_a_lost_database_connection_is_retried_whatever_failures_a_task_names():
    import psycopg

    strategy = CappedBackoff(retry_exceptions={TransientConvergeError})
    lost = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    assert strategy.get_retry_decision(exception=lost, job=job(1)) is not None
    assert strategy.get_retry_decision(exception=psycopg.errors.UndefinedTable("x"), job=job(1)) is None


def test_a_failure_no_retry_can_mend_is_not_retried():
    strategy = CappedBackoff(never_retry={LookupError})
    assert strategy.get_retry_decision(exception=KeyError("gone"), job=job(0)) is None


def test_a_maximum_number_of_attempts_can_still_be_set():
    strategy = CappedBackoff(max_attempts=3)
    assert strategy.get_retry_decision(exception=RuntimeError(), job=job(2)) is not None
    assert strategy.get_retry_decision(exception=RuntimeError(), job=job(3)) is None
