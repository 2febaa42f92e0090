"""Provider plugins left behind by a killed Pulumi CLI, found by the run they belong to.

The CLI starts each plugin (pulumi-resource-command, the dynamic providers' Python) in a
process group of its own (pulumi's cmdutil.RegisterProcessGroup), so killing the CLI's
group (stacks.supervision) does not reach them: `mpanel chaos` found them reparented to init
after their CLI was SIGKILLed. Plugins inherit the CLI's environment, so each CLI call is
marked with MPANEL_ENGINE_RUN=<worker pid>-<token>; when the call ends, whatever still
carries its mark is killed, and so is whatever carries the mark of a worker that is gone
(one killed mid-run had no chance to clean up).
"""
from __future__ import annotations

import os
import secrets
import signal

MARK = "MPANEL_ENGINE_RUN"


def new_mark() -> str:
    return f"{os.getpid()}-{secrets.token_hex(6)}"


def _mark_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read()
    except OSError:  # gone, or not ours to read
        return None
    prefix = MARK.encode() + b"="
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix):].decode(errors="replace")
    return None


def _owner_alive(mark: str) -> bool:
    try:
        os.kill(int(mark.split("-", 1)[0]), 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True  # not a mark of ours to judge, or alive under another user
    return True


def marked_processes(mark: str) -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and _mark_of(int(e)) == mark]


def kill_left_behind(mark: str) -> list[int]:
    """SIGKILL every process of the run `mark`, and of runs whose worker is gone; their pids."""
    killed = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        found = _mark_of(int(entry))
        if found is None or (found != mark and _owner_alive(found)):
            continue
        try:
            os.kill(int(entry), signal.SIGKILL)
            killed.append(int(entry))
        except ProcessLookupError:
            pass
    return killed
