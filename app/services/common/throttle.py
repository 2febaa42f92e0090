"""The login throttle: guessing a password (or a code, or asking for reset links) gets slower
and slower, and the owner of the account is never locked out by someone else's guesses.

Three counters watch every attempt, per scope (customer_login, staff_login, password_reset,
totp: each guarded form its own):
- the pair (account, client address): a few free failures, then waits that double, up to
  15 minutes. This is what stops one guesser at one account;
- the client address, over every account: more free failures (an office shares an address),
  then waits that double, up to an hour. This stops one guesser trying many accounts;
- the account, over every address: many free failures, then a short wait (at most a minute):
  a slow-down for a guess spread over many addresses, never a lock.
An address that signed in to the account lately answers only to its pair, so the owner goes
on logging in from where they usually do whatever others guess.

An attempt is counted as a failure *before* the password is checked (`admit`), under the
counters' row locks, and given back when it succeeds (`succeeded`): parallel guesses are
counted one after another, and none passes the limit by racing the others. Refused attempts
are not counted: waiting is enough to be let in again.

The client address is `request.remote_addr`; behind a proxy, the app's trusted-proxy setting
decides what that is (issue 24), never a header read here.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.db.common import throttle as counters
from app.services.common.refusals import Refused

SCOPES = ("customer_login", "staff_login", "password_reset", "totp")


@dataclass(frozen=True)
class Rule:
    free: int          # failures before the first wait
    first_wait: int    # seconds, after the `free`-th failure; doubles with each one after it
    longest_wait: int  # seconds


RULES = {
    "pair": Rule(free=5, first_wait=15, longest_wait=15 * 60),
    "address": Rule(free=20, first_wait=15, longest_wait=60 * 60),
    "account": Rule(free=50, first_wait=1, longest_wait=60),
}
FORGET_SECONDS = 24 * 3600        # a counter with no failure for a day starts over
KNOWN_ADDRESS_DAYS = 30           # an address that signed in lately is not slowed by the account's counter


class TooManyAttempts(Refused):
    """Refused before anything was checked: wait `retry_after` seconds (the answer's Retry-After)."""

    status = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(None, f"Too many attempts: try again in {wait_words(self.retry_after)}.")


# --- the rules (pure) -------------------------------------------------------------------------

def wait_after(rule: Rule, failures: int) -> int:
    """Seconds to wait after the `failures`-th failure in a row."""
    if failures < rule.free:
        return 0
    return min(rule.longest_wait, rule.first_wait * 2 ** min(failures - rule.free, 30))


def wait_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def keys_of(account: str, address: str) -> dict[str, str]:
    account = (account or "").strip().lower()[:254] or "-"
    return {"pair": f"pair:{account}|{address}", "address": f"address:{address}", "account": f"account:{account}"}


def _failures(row: dict, now: dt.datetime) -> int:
    """The row's failures, or none when its last one is old enough to be forgotten."""
    last = row["last_failure_at"]
    return row["failures"] if last is not None and now - last < dt.timedelta(seconds=FORGET_SECONDS) else 0


def _known_address(pair: dict, now: dt.datetime) -> bool:
    return pair["last_success_at"] is not None and now - pair["last_success_at"] < dt.timedelta(days=KNOWN_ADDRESS_DAYS)


def _watching(rows: dict[str, dict], now: dt.datetime) -> list[str]:
    """The counters this attempt answers to: an address that signed in to this account lately
    answers only to its pair, so neither a guesser sharing its address (an office, a carrier's
    NAT) nor one spread over many addresses keeps the owner out."""
    return ["pair"] if _known_address(rows["pair"], now) else list(rows)


# --- counting -----------------------------------------------------------------------------------

def _locked(conn, scope: str, account: str, address: str) -> tuple[dict[str, str], dict[str, dict]]:
    assert scope in SCOPES, scope
    keys = keys_of(account, address)
    # Always in the same order (by key), so two attempts never wait on each other's locks in a cycle.
    rows = {kind: counters.lock(conn, scope, key) for kind, key in sorted(keys.items(), key=lambda kv: kv[1])}
    return keys, rows


def admit(conn, scope: str, account: str, address: str) -> None:
    """Let one attempt through, counted as a failure until `succeeded` says otherwise; or raise
    TooManyAttempts (nothing counted) with how long to wait. Commit `conn` before checking the
    password, so the count holds even when the check's own transaction rolls back."""
    keys, rows = _locked(conn, scope, account, address)
    now = next(iter(rows.values()))["now"]
    watching = _watching(rows, now)
    waits = [(rows[kind]["next_allowed_at"] - now).total_seconds() for kind in watching]
    if max(waits, default=0) > 0:
        raise TooManyAttempts(-(-max(waits) // 1))
    for kind in watching:
        failures = _failures(rows[kind], now) + 1
        counters.save(conn, scope, keys[kind], failures=failures, last_failure_at=now,
                      next_allowed_at=now + dt.timedelta(seconds=wait_after(RULES[kind], failures)),
                      last_success_at=rows[kind]["last_success_at"])


def succeeded(conn, scope: str, account: str, address: str) -> None:
    """The admitted attempt was right: the pair starts over and remembers this address; the
    address and the account get their one failure back."""
    keys, rows = _locked(conn, scope, account, address)
    now = next(iter(rows.values()))["now"]
    for kind in _watching(rows, now):  # the counters `admit` counted (the pair's success is not yet saved)
        row = rows[kind]
        if kind == "pair":
            counters.save(conn, scope, keys[kind], failures=0, last_failure_at=None, next_allowed_at=now,
                          last_success_at=now)
            continue
        failures = max(0, _failures(row, now) - 1)
        counters.save(conn, scope, keys[kind], failures=failures, last_failure_at=row["last_failure_at"],
                      next_allowed_at=row["next_allowed_at"] if failures >= RULES[kind].free else now,
                      last_success_at=row["last_success_at"])


def forget_old(conn) -> int:
    """Counters nothing has touched for FORGET_SECONDS (a sweep may call this)."""
    return counters.forget_older_than(conn, FORGET_SECONDS)
