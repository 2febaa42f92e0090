"""An engine run that hangs is killed after MPANEL_RUN_TIMEOUT_SECONDS: its whole process group
(CLI and provider plugins) goes, the stack is recovered (lock, pending operations), the run is
recorded failed with the reason, and the next converge finishes once the fault is gone."""
from __future__ import annotations

import dataclasses
import time

import pytest
import requests

from app.services.hosting.converge import Converger
from app.services.hosting.engine import stack_operations
from app.services.hosting.errors import TransientConvergeError
from stacks import provider_host, supervision
from tests.factories import make_subscription, unique_domain

RUN_TIMEOUT = 8.0


@pytest.fixture
def whm_hangs(settings):
    """WHM's createacct answers a minute late (the stand-in's latency fault) until cleared."""
    faults = f"{settings.CPANEL_WHM_URL}/_sandbox/faults"
    requests.post(faults, json={"operation": "createacct", "kind": "latency", "ms": 60000, "count": 0},
                  timeout=10).raise_for_status()
    cleared = {"done": False}

    def clear() -> None:
        if not cleared["done"]:
            requests.delete(faults, timeout=10).raise_for_status()
            cleared["done"] = True
    yield clear
    clear()


def _timed_out(exc: BaseException) -> supervision.EngineRunTimedOut | None:
    while exc is not None:
        if isinstance(exc, supervision.EngineRunTimedOut):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def test_a_hung_engine_run_is_killed_recorded_and_the_next_converge_finishes(db_conn, settings, servers, whm_hangs):
    short = dataclasses.replace(settings, MPANEL_RUN_TIMEOUT_SECONDS=RUN_TIMEOUT)
    domain = unique_domain("hang")
    sid = make_subscription(db_conn, settings, domain=domain)

    started = time.monotonic()
    with pytest.raises(TransientConvergeError, match="timed out") as raised:
        Converger(short).converge(sid)
    took = time.monotonic() - started
    timed_out = _timed_out(raised.value)
    assert timed_out is not None and timed_out.process_groups, "the run did not end by its deadline"
    # The deadline, plus the recovery's own CLI calls (cancel, export): not the minute WHM takes.
    assert RUN_TIMEOUT <= took < RUN_TIMEOUT + 25, took

    run = db_conn.execute("SELECT status, error FROM provisioning_runs WHERE subscription_id = %s "
                          "ORDER BY id DESC LIMIT 1", (sid,)).fetchone()
    assert run["status"] == "failed" and "timed out after 8 s" in run["error"]
    sub = db_conn.execute("SELECT provisioning_status, provisioning_error FROM subscriptions WHERE id = %s",
                          (sid,)).fetchone()
    assert sub["provisioning_status"] == "provisioning" and "timed out" in sub["provisioning_error"]  # retried
    for pgid in timed_out.process_groups:  # the CLI and every plugin it started
        assert supervision.group_members(pgid) == [], f"processes left in group {pgid}"
    assert provider_host.running_pids() == []  # the provider server the run used went with it
    ops = stack_operations(settings)
    assert not ops.export(sid).get("pending_operations")  # recovered: no lock, nothing pending

    whm_hangs()
    assert Converger(settings).converge(sid) == "up"
    assert len(servers.whm_accounts_for(domain)) == 1

    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    assert Converger(settings).converge(sid) == "destroyed"
