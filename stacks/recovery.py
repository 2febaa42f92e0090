"""Recovering a stack a killed run left behind: is the run's process really gone?

A run that dies holding the stack's lock (or with operations pending) blocks every later
run until someone clears it. Clearing it is safe only when its process is gone; the
providers then adopt what it left upstream (architecture decision 5).
"""
from __future__ import annotations

import datetime as dt
import os
import re
import socket

# What the CLI says when a previous run died holding the lock or mid-operation.
LEFT_BY_A_DEAD_RUN = re.compile(r"currently locked|pending operation|interrupted while|"
                                r"operation was interrupted|update is in progress", re.IGNORECASE)
# "created by root@web1 (pid 24579) at 2026-11-26T07:10:58Z", one line per lock.
_LOCK_HOLDER = re.compile(r"created by \S+@(\S+) \(pid (\d+)\) at (\S+)")
# A lock from another host is presumed dead only after this long (no run takes minutes).
STALE_LOCK_AFTER = dt.timedelta(minutes=15)
PID_REUSE_SLACK = dt.timedelta(seconds=60)


def _boot_time() -> dt.datetime:
    with open("/proc/stat") as f:
        btime = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    return dt.datetime.fromtimestamp(btime, dt.timezone.utc)


def _signalable(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder_running(pid: int, locked_at: dt.datetime) -> bool:
    """Is the process that took the lock still running? A killed process lingers as a
    zombie until something reaps it (in a container pid 1 may take its time), and a
    pid can be reused: neither counts as the holder."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return _signalable(pid)  # gone, or hidden from us (/proc mounted with hidepid)
    except OSError:
        return True  # cannot tell: leave the lock alone
    fields = stat[stat.rindex(")") + 2:].split()  # the name may hold spaces and parentheses
    if fields[0] in ("Z", "X"):
        return False
    started = _boot_time() + dt.timedelta(seconds=int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    # A process born after the lock is not its holder; the slack covers the lock's one-second
    # resolution and a wall clock stepped since (boot time is derived from it).
    return started <= locked_at + PID_REUSE_SLACK


def process_gone(host: str, pid: int, since: dt.datetime, now: dt.datetime | None = None) -> bool:
    """Has the process that started something at `since` stopped? On this host its pid no
    longer runs (or is another process now); elsewhere it started over STALE_LOCK_AFTER ago."""
    if host == socket.gethostname():
        return not _holder_running(pid, since)
    return (now or dt.datetime.now(dt.timezone.utc)) - since >= STALE_LOCK_AFTER


def lock_is_stale(message: str, now: dt.datetime | None = None) -> bool:
    """True when every lock named in the CLI's message belongs to a process that is gone."""
    holders = _LOCK_HOLDER.findall(message)
    if not holders:  # pending operations without a lock have nobody to protect; a lock we cannot read does
        return "locked" not in message.lower()
    return all(process_gone(host, int(pid), dt.datetime.fromisoformat(at.replace("Z", "+00:00")), now)
               for host, pid, at in holders)
