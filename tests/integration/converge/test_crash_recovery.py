"""A converge killed at random points (SIGKILL to the whole process group) recovers cleanly.

After each kill the next run cancels the stale lock, clears pending operations and
lets the providers adopt what the dead run created upstream; in the end there is
exactly one of everything, and after destroy nothing at all.
"""
from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys

import psycopg
import pytest
from pulumi import automation as auto
from psycopg.types.json import Jsonb

from app.services.hosting.engine import stack_operations
from stacks.events import StepRecorder
from app.services.hosting.specs import build_spec
from tests.factories import make_subscription, unique_domain


def _kill_mid_run(subscription_id: int, after: float) -> bool:
    """Start `mpanel stacks up` and SIGKILL it after `after` seconds; False if it finished first."""
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "stacks", "up", str(subscription_id)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=after)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker, its Pulumi CLI and the provider processes
        proc.wait()
        return True


def _leave_pending_create(settings, stack_name: str, urn_suffix: str) -> None:
    """Write a pending CREATE into the stack's checkpoint in the postgres:// backend, as a
    run killed mid-create leaves it (each blob is stored as {"data": base64(file)})."""
    url = settings.PULUMI_BACKEND_URL.replace("postgres://", "postgresql://")
    with psycopg.connect(url) as conn:
        [(key, blob)] = [(k, d) for k, d in conn.execute("SELECT key, data FROM pulumi_state WHERE key LIKE %s",
                                                          ("%/stacks/%",)) if k.endswith(f"/{stack_name}.json")]
        checkpoint = json.loads(base64.b64decode(blob["data"]))
        latest = checkpoint["checkpoint"]["latest"]
        resource = next(r for r in latest["resources"] if r["urn"].endswith(urn_suffix))
        latest["pending_operations"] = [{"resource": resource, "type": "creating"}]
        blob = {"data": base64.b64encode(json.dumps(checkpoint).encode()).decode()}
        conn.execute("UPDATE pulumi_state SET data = %s WHERE key = %s", (Jsonb(blob), key))


def _mailboxes(settings, domain: str) -> int:
    with psycopg.connect(settings.MAILCORE_DATABASE_URL) as conn:
        return conn.execute("SELECT count(*) FROM mailboxes WHERE domain = %s", (domain,)).fetchone()[0]


def test_a_converge_killed_at_random_points_ends_with_exactly_one_of_everything(db_conn, settings, converger, servers):
    seed = int(os.environ.get("MPANEL_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    domain = unique_domain("crash")
    sid = make_subscription(db_conn, settings, domain=domain)
    # A whole `mpanel stacks up` (interpreter start included) takes 2.5-4 s here: kill inside that.
    kill_points = sorted(rng.uniform(0.5, 2.2) for _ in range(3))
    print(f"MPANEL_CRASH_SEED={seed} (kills at {kill_points})")  # shown when the test fails
    killed = [_kill_mid_run(sid, after) for after in kill_points]
    assert any(killed), f"seed {seed}: every run finished before its kill at {kill_points}: nothing was tested"

    assert converger.converge(sid) == "up", f"seed {seed}, kills at {kill_points}"
    assert len(servers.whm_accounts_for(domain)) == 1, f"seed {seed}"
    assert servers.zone(domain) is not None
    assert _mailboxes(settings, domain) == 1
    ops = stack_operations(settings)
    assert not ops.export(sid).get("pending_operations")
    assert set(ops.preview(build_spec(db_conn, sid, settings), StepRecorder()).change_summary) == {"same"}

    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    assert converger.converge(sid) == "destroyed"
    assert servers.whm_accounts_for(domain) == []
    assert servers.zone(domain) is None
    assert _mailboxes(settings, domain) == 0


def test_pending_operations_left_without_a_lock_are_cleared_by_the_next_converge(db_conn, settings, converger, servers):
    """A run killed inside recovery, after cancelling the lock and before clearing the pending
    operations, leaves exactly this: no lock, a pending create, and its run row still 'running'.
    The engine does not complain (`up --refresh` not even with a warning): converge must clear it."""
    domain = unique_domain("pending")
    sid = make_subscription(db_conn, settings, domain=domain)
    assert converger.converge(sid) == "up"
    _leave_pending_create(settings, f"sub-{sid}", "::mailbox-admin")  # `stack import` would drop it
    db_conn.execute("INSERT INTO provisioning_runs (subscription_id, operation) VALUES (%s, 'up')", (sid,))
    ops = stack_operations(settings)
    assert ops.export(sid).get("pending_operations")

    assert converger.converge(sid) == "up"
    assert not ops.export(sid).get("pending_operations")
    assert len(servers.whm_accounts_for(domain)) == 1 and _mailboxes(settings, domain) == 1
    [dead] = db_conn.execute("SELECT status, error FROM provisioning_runs WHERE subscription_id = %s "
                             "ORDER BY id DESC OFFSET 1 LIMIT 1", (sid,)).fetchall()
    assert dead["status"] == "failed" and "interrupted" in dead["error"]
    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    assert converger.converge(sid) == "destroyed"


def _leave_init_lock(settings, stack_name: str) -> None:
    """What a run killed inside `pulumi stack init` leaves: the new stack's lock, no stack
    (seen by `mpanel chaos`; the lock object as the DIY backend writes it, diy/lock.go)."""
    lock = {"pid": 999999, "username": "root", "hostname": "gone", "timestamp": "2026-12-07T11:04:57Z"}
    key = f"pulumi/.pulumi/locks/organization/mpanel/{stack_name}/{os.urandom(8).hex()}.json"
    url = settings.PULUMI_BACKEND_URL.replace("postgres://", "postgresql://")
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO pulumi_state (key, data) VALUES (%s, %s)",
                     (key, Jsonb({"data": base64.b64encode(json.dumps(lock).encode()).decode()})))


def test_a_first_up_after_a_run_killed_in_stack_init_clears_its_lock_once_the_holder_is_gone(db_conn, settings):
    sid = make_subscription(db_conn, settings, domain=unique_domain("initlock"))
    spec = build_spec(db_conn, sid, settings)
    ops = stack_operations(settings)
    _leave_init_lock(settings, spec.stack_name)

    with pytest.raises(auto.StackNotFoundError):  # the holder not known gone: left alone
        ops.up(spec, StepRecorder(), refresh=False)
    ops.up(spec, StepRecorder(), refresh=False, lock_holder_gone=lambda _message: True)
    try:
        assert ops.outputs(sid)["domain"] == spec.domain
    finally:
        ops.destroy(sid, StepRecorder())
