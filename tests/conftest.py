"""Shared fixtures: the local servers, started once per run on ports of their own.

Tests never touch a developer's running instance: they use .state-test and the
port base 26000 (override with MPANEL_TEST_PORT_BASE), start the servers when they
are not already up, and stop at the end only what they started.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]
# `make test` runs test modules in parallel worker processes (TEST_WORKERS, 2; pytest-xdist,
# --dist loadfile): each worker has a server set of its own, its own state directory and ports
# 2,000 above the previous worker's (a run's tests use offsets up to about 1,300 from its base). Worker gw0, and a plain
# `pytest`, use .state-test and the base itself, so servers a developer left up are reused.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_INDEX = int(_WORKER.removeprefix("gw") or 0)
os.environ["MPANEL_STATE_DIR"] = (os.environ.get("MPANEL_TEST_STATE_DIR") or str(CHECKOUT / ".state-test")) + (
    f"-{_WORKER}" if _INDEX else "")
os.environ["MPANEL_PORT_BASE"] = str(int(os.environ.get("MPANEL_TEST_PORT_BASE", "26000")) + 2000 * _INDEX)
os.environ["MPANEL_APP_PORT"] = str(int(os.environ["MPANEL_PORT_BASE"]) + 271)
# The lifecycle as the end-to-end tests exercise it: the seed's test mode on, and billing
# deadlines at zero so suspension and termination follow their events at once.
# Every test client is 127.0.0.1, and the suite starts far more than 20 checkouts an hour
# from it: the per-address limit is tested with an address of its own (tests/e2e/test_checkout_limits.py).
os.environ.update(MARKETING_TEST_MODE="true", MARKETING_OVERRIDE_CODE="TESTFREE", MARKETING_AUTO_PROVISION="true",
                  SUSPEND_AFTER_DAYS="0", TERMINATE_AFTER_DAYS="0", MPANEL_CHECKOUT_LIMIT_PER_ADDRESS="0")
# Configuration must come from the local servers, never from a developer's shell.
from app.settings import Settings as _Settings  # noqa: E402  (after the variables above)

for _name in _Settings.__dataclass_fields__:
    if _name not in ("MARKETING_TEST_MODE", "MARKETING_OVERRIDE_CODE", "MARKETING_AUTO_PROVISION",
                     "SUSPEND_AFTER_DAYS", "TERMINATE_AFTER_DAYS", "MPANEL_CHECKOUT_LIMIT_PER_ADDRESS"):
        os.environ.pop(_name, None)

# Every object and event the Stripe stand-in answers (in-process here, and in the servers the
# fixtures start, which inherit this) is checked against Stripe's spec of the pinned API version,
# read from stripe-mock's module source that `mpanel setup` fetched (sandbox/stripe/schema.py).
from tools import stripe_mock as _stripe_mock  # noqa: E402

_spec = _stripe_mock.spec_path()
if _spec is not None:
    os.environ["MPANEL_STRIPE_SCHEMA"] = str(_spec)


def _one_ast_parse_at_a_time() -> None:
    """CPython 3.11.7 (this machine's) keeps ast.parse's recursion bookkeeping per interpreter,
    not per call, so two threads parsing at once can fail with "SystemError: AST constructor
    recursion depth mismatch" (python/cpython#106905, fixed in 3.11.8). The suite runs several
    Flask apps in threads, and werkzeug compiles each URL rule with ast.parse: serialise it.
    A parse can also start inside a parse on the same thread: a garbage collection during one
    calls pytest's unraisable-exception hook, whose traceback formatting parses a source line.
    Waiting for the lock there deadlocked a CI run, and letting it in broke the outer parse the
    same way ("recursion depth mismatch"); it is refused with a SyntaxError instead, which the
    traceback module takes as "no carets to draw"."""
    import ast
    import sys
    import threading

    if sys.version_info >= (3, 11, 8) or getattr(ast.parse, "serialised", False):
        return
    lock, parse, this_thread = threading.Lock(), ast.parse, threading.local()

    def serialised_parse(*args, **kwargs):
        if getattr(this_thread, "parsing", False):
            raise SyntaxError("ast.parse inside ast.parse on one thread (python/cpython#106905)")
        with lock:
            this_thread.parsing = True
            try:
                return parse(*args, **kwargs)
            finally:
                this_thread.parsing = False

    serialised_parse.serialised = True
    ast.parse = serialised_parse


_one_ast_parse_at_a_time()


@pytest.fixture(scope="session")
def layout():
    from tools.services.layout import current

    return current()


@pytest.fixture(scope="session")
def services(layout):
    """Every local server, ready; yields the supervisor's status report."""
    from tools.services import supervisor

    already = supervisor.read_run_file(layout) is not None
    supervisor.start_detached(layout)
    _fund_the_registrar_account(layout)
    _start_stripe_afresh(layout)
    yield supervisor.status(layout)
    if not already:
        from app import db

        # This process's pooled sessions go first, so their pools do not try to reconnect to a
        # database that is stopping (the supervisor's fast shutdown would end them anyway).
        db.close_pools()
        supervisor.stop_detached(layout)


@pytest.fixture(scope="session")
def settings(services):
    from app import db
    from app.settings import Settings

    s = Settings.from_env()
    db.upgrade(s.DATABASE_URL)
    return s


@pytest.fixture
def db_conn(settings):
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(settings.DATABASE_URL, row_factory=dict_row, autocommit=True) as conn:
        yield conn


def _fund_the_registrar_account(layout) -> None:
    """Registrations charge the stand-in's account balance, which persists between runs."""
    import requests

    requests.post(f"http://127.0.0.1:{layout.port('namesilo')}/_sandbox/balance", json={"balance": 100000},
                  timeout=10).raise_for_status()


def _start_stripe_afresh(layout) -> None:
    """The Stripe stand-in rewrites its whole state on each change: start each run empty,
    and forget the Stripe ids the application cached and the work the previous run left."""
    import psycopg
    import requests

    from app import db
    from app.settings import Settings

    requests.post(f"http://127.0.0.1:{layout.port('stripe')}/_sandbox/reset", timeout=30).raise_for_status()
    settings = Settings.from_env()
    db.upgrade(settings.DATABASE_URL)
    with psycopg.connect(settings.DATABASE_URL, autocommit=True) as conn:
        # Work a previous (interrupted) run left queued or half-done would keep this run's
        # workers busy; no worker of ours runs yet at this point.
        conn.execute("DELETE FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
        conn.execute("UPDATE plans SET stripe_price_monthly = NULL, stripe_price_yearly = NULL")
        conn.execute("UPDATE promo_codes SET stripe_coupon_id = NULL")
        # Orders an earlier run left failed or flagged are ended: the operators' work list shows
        # the oldest 50, and a state directory kept across runs gathers about six a run, so after
        # a few runs a test's own item would no longer be on the page it looks at.
        conn.execute("UPDATE subscriptions SET status = 'terminated', provisioning_status = 'destroyed', "
                     "needs_attention_since = NULL WHERE needs_attention_since IS NOT NULL "
                     "OR provisioning_status IN ('failed', 'provisioning', 'destroying')")


@pytest.fixture
def queue(settings):
    """The job queue configured on the session's settings, as `mpanel worker` configures it:
    a task called in-process (its function, not a worker) runs with these."""
    from app.jobs.queue import queue

    return queue.configure(settings)
