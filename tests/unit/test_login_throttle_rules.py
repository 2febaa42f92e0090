"""The login throttle's rules (app/services/common/throttle.py), without a database."""
from __future__ import annotations

import datetime as dt

from app.services.common import throttle
from app.services.common.throttle import RULES, Rule, keys_of, wait_after, wait_words


def test_failures_up_to_the_free_ones_wait_nothing_then_the_wait_doubles_to_its_ceiling():
    rule = Rule(free=5, first_wait=15, longest_wait=15 * 60)
    assert [wait_after(rule, n) for n in range(1, 5)] == [0, 0, 0, 0]
    assert [wait_after(rule, n) for n in range(5, 10)] == [15, 30, 60, 120, 240]
    assert wait_after(rule, 10_000) == 15 * 60


def test_the_owner_gets_more_room_than_one_guesser_and_the_account_is_only_slowed():
    assert RULES["pair"].free < RULES["address"].free < RULES["account"].free
    assert RULES["account"].longest_wait <= 60, "a slow-down, never a lock"


def test_the_keys_ignore_the_emails_case_and_spaces():
    assert keys_of(" Owner@Example.COM ", "192.0.2.7") == {
        "pair": "pair:owner@example.com|192.0.2.7", "address": "address:192.0.2.7",
        "account": "account:owner@example.com"}


def test_waits_read_as_seconds_then_minutes_rounded_up():
    assert [wait_words(s) for s in (1, 45, 60, 61, 900)] == [
        "1 second", "45 seconds", "1 minute", "2 minutes", "15 minutes"]


def test_an_address_that_signed_in_lately_answers_only_to_its_own_pair():
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    row = {"failures": 0, "last_failure_at": None, "next_allowed_at": now, "last_success_at": None}
    rows = {"account": row, "address": row, "pair": row}
    assert throttle._watching(rows, now) == ["account", "address", "pair"]
    known = {**row, "last_success_at": now - dt.timedelta(days=2)}
    assert throttle._watching({**rows, "pair": known}, now) == ["pair"]
    long_ago = {**row, "last_success_at": now - dt.timedelta(days=throttle.KNOWN_ADDRESS_DAYS + 1)}
    assert throttle._watching({**rows, "pair": long_ago}, now) == ["account", "address", "pair"]


def test_a_refusal_says_how_long_and_carries_it_for_retry_after():
    refusal = throttle.TooManyAttempts(89.2)
    assert (refusal.status, refusal.retry_after, refusal.code) == (429, 89, "too_many_attempts")
    assert refusal.message == "Too many attempts: try again in 2 minutes."
