"""A converge with nothing to do starts no Pulumi CLI (app/services/hosting/nothing_to_do.py);
a changed spec, an operator's forced converge, a failed last run and a stale refresh run the engine."""
from __future__ import annotations

import time

import pytest

from app.services.hosting.converge import NOTHING_TO_DO
from stacks import engine
from tests.factories import make_subscription
from tests.integration.converge.conftest import converged_for_the_module


@pytest.fixture
def cli_calls(monkeypatch):
    """Every Pulumi CLI process this process starts (all go through the one cached command)."""
    calls: list[list[str]] = []
    command = type(engine.pulumi_command())
    run = command.run

    def counted(self, args, *rest, **kw):
        calls.append(list(args))
        return run(self, args, *rest, **kw)

    monkeypatch.setattr(command, "run", counted)
    return calls


@pytest.fixture(scope="module")
def provisioned(settings, converger):
    """One converged subscription for the module (a converge and a destroy cost about 4.5 s): the
    first test needs its first up to be the last run, the second forces its own runs."""
    yield from converged_for_the_module(settings, converger, "noop")


def _runs(db_conn, sid) -> int:
    return db_conn.execute("SELECT count(*) AS n FROM provisioning_runs WHERE subscription_id = %s",
                           (sid,)).fetchone()["n"]


def _converge_counting(converger, sid, cli_calls, **kw) -> tuple[str, int, float]:
    before, started = len(cli_calls), time.perf_counter()
    outcome = converger.converge(sid, **kw)
    return outcome, len(cli_calls) - before, time.perf_counter() - started


def test_a_second_converge_with_nothing_changed_starts_no_cli(db_conn, converger, provisioned, cli_calls):
    runs = _runs(db_conn, provisioned)
    digest = db_conn.execute("SELECT spec_digest FROM provisioning_runs WHERE subscription_id = %s "
                             "ORDER BY id DESC LIMIT 1", (provisioned,)).fetchone()["spec_digest"]
    assert digest and len(digest) == 64

    outcome, cli, took = _converge_counting(converger, provisioned, cli_calls)

    assert (outcome, cli) == (NOTHING_TO_DO, 0)
    assert took < 0.5, f"nothing to do took {took:.2f} s"
    assert _runs(db_conn, provisioned) == runs  # no engine run, so no run row


def test_what_always_runs_the_engine(db_conn, converger, provisioned, cli_calls):
    sid = provisioned
    # an operator's converge ("Converge now", `mpanel stacks up`)
    outcome, cli, _ = _converge_counting(converger, sid, cli_calls, force=True)
    assert outcome == "up" and cli > 0
    assert _converge_counting(converger, sid, cli_calls)[:2] == (NOTHING_TO_DO, 0)

    # a changed desired state
    db_conn.execute("UPDATE domains SET auto_renew = NOT coalesce(auto_renew, TRUE) WHERE subscription_id = %s", (sid,))
    outcome, cli, _ = _converge_counting(converger, sid, cli_calls)
    assert outcome == "up" and cli > 0
    assert _converge_counting(converger, sid, cli_calls)[:2] == (NOTHING_TO_DO, 0)

    # a failed last run (here: a drift check that failed)
    db_conn.execute("INSERT INTO provisioning_runs (subscription_id, operation, status, finished_at, error) "
                    "VALUES (%s, 'refresh', 'failed', now(), 'test: failed')", (sid,))
    outcome, cli, _ = _converge_counting(converger, sid, cli_calls)
    assert outcome == "up" and cli > 0

    # a refresh older than the drift window
    db_conn.execute("UPDATE provisioning_runs SET finished_at = finished_at - interval '25 hours', "
                    "started_at = started_at - interval '25 hours' WHERE subscription_id = %s", (sid,))
    outcome, cli, _ = _converge_counting(converger, sid, cli_calls)
    assert outcome == "up" and cli > 0
    assert _converge_counting(converger, sid, cli_calls)[:2] == (NOTHING_TO_DO, 0)


def test_a_forced_request_makes_a_waiting_converge_forced(db_conn, settings):
    from app.jobs.defer import request_converge

    provisioned = make_subscription(db_conn, settings)  # only queued here, never converged

    assert request_converge(db_conn, provisioned) is True
    assert request_converge(db_conn, provisioned, force=True) is False  # one waits already
    [args] = [r["args"] for r in db_conn.execute(
        "SELECT args FROM procrastinate_jobs WHERE task_name = 'converge_subscription' AND status = 'todo' "
        "AND args->>'subscription_id' = %s", (str(provisioned),))]
    assert args == {"subscription_id": provisioned, "force": True}
    db_conn.execute("DELETE FROM procrastinate_jobs WHERE task_name = 'converge_subscription' AND status = 'todo' "
                    "AND args->>'subscription_id' = %s", (str(provisioned),))
