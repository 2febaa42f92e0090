"""When is a stack lock left by a dead run? Checked against real processes on this host."""
from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import time

from stacks.recovery import lock_is_stale

HOST = socket.gethostname()


def _message(pid: int, at: dt.datetime, host: str = HOST) -> str:
    return (f"error: the stack is currently locked by 1 lock(s).\n  postgres://x/locks/sub-1/a.json: "
            f"created by root@{host} (pid {pid}) at {at:%Y-%m-%dT%H:%M:%SZ}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def test_a_lock_whose_holder_still_runs_is_not_stale():
    at = _now()
    holder = subprocess.Popen(["sleep", "30"])
    try:
        assert not lock_is_stale(_message(holder.pid, at))
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_whose_holder_is_gone_is_stale():
    holder = subprocess.Popen(["true"])
    holder.wait()
    assert lock_is_stale(_message(holder.pid, _now()))


def test_a_killed_holder_not_yet_reaped_is_stale():
    holder = subprocess.Popen(["sleep", "30"])
    at = _now()
    os.kill(holder.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while open(f"/proc/{holder.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the killed process never became a zombie"
        time.sleep(0.01)
    try:
        assert lock_is_stale(_message(holder.pid, at))  # the zombie still answers kill(pid, 0)
    finally:
        holder.wait()


def test_a_pid_reused_by_a_younger_process_is_not_the_holder():  # born minutes after the lock
    newcomer = subprocess.Popen(["sleep", "30"])
    try:
        assert lock_is_stale(_message(newcomer.pid, _now() - dt.timedelta(minutes=5)))
    finally:
        newcomer.kill()
        newcomer.wait()


def test_a_lock_we_cannot_read_is_left_alone_but_pending_operations_alone_are_recovered():
    assert not lock_is_stale("error: the stack is currently locked by 1 lock(s): held by someone")
    assert lock_is_stale("error: the current deployment has 1 resource(s) with pending operations")


def test_a_lock_from_another_host_is_stale_only_when_old():
    assert not lock_is_stale(_message(4242, _now() - dt.timedelta(minutes=1), host="web9"))
    assert lock_is_stale(_message(4242, _now() - dt.timedelta(hours=1), host="web9"))
