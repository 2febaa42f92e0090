"""Every Pulumi CLI call in a process group of its own, with a deadline, dying with its worker.

The Automation API starts the CLI as a plain child: the CLI then starts the provider
plugins (the dynamic providers' Python, pulumi-resource-command), and nothing bounds how
long any of it takes. Here each CLI call runs under a tiny `sh` that leads a new process
group and is sent SIGTERM if the worker thread that started it dies (PR_SET_PDEATHSIG, set by
util-linux's setpriv);
on that signal, or when the run's deadline passes, the whole group (CLI and plugins) is
SIGKILLed. So a hung engine run ends after MPANEL_RUN_TIMEOUT_SECONDS, and a worker killed
mid-run leaves no engine behind that could go on changing the stack another worker is
about to recover.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, Optional

from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult, OnOutput, _fixup_path
from pulumi.automation.errors import create_command_error

from stacks import orphans

# The leader: the CLI as a background job, so a trapped signal interrupts `wait` at once.
_LEADER = 'trap "kill -KILL 0" TERM HUP; "$0" "$@" & wait $!'
# util-linux's setpriv sets the parent-death signal and execs the leader. Not a preexec_fn:
# that forces a plain fork() of a process running gRPC threads (the inline program's
# language server), and gRPC's fork handlers then abort the child.
_SETPRIV = shutil.which("setpriv")
_DYING_WITH_PARENT = [_SETPRIV, "--pdeathsig", "TERM", "--"] if _SETPRIV else []


# What the web app alone holds: engine runs and the provider server inherit the worker's
# environment, and a deployment that exports one env file to every process must not hand them
# the key that signs customer sessions (they get MPANEL_ENCRYPTION_KEY, not this).
APP_ONLY = ("MPANEL_SESSION_KEY",)


def inherited_environment() -> dict[str, str]:
    """os.environ for a child engine or provider process, without the app's own keys."""
    return {k: v for k, v in os.environ.items() if k not in APP_ONLY}


class EngineRunTimedOut(RuntimeError):
    """An engine run went past its deadline: its process groups were killed."""

    def __init__(self, seconds: float, process_groups: list[int]):
        super().__init__(f"engine run timed out after {seconds:g} s (MPANEL_RUN_TIMEOUT_SECONDS): "
                         f"its processes were killed and the stack recovered")
        self.seconds, self.process_groups = seconds, process_groups


class EngineFenced(RuntimeError):
    """This process could no longer prove it is alive (its heartbeat connection was lost), so it
    stopped its engine runs before another worker recovers their stacks."""


_local = threading.local()
_groups: dict[int, str] = {}  # process group -> why it will be killed ("" while nothing asked)
_groups_lock = threading.Lock()
_when_killed: list[Callable[[str], None]] = []  # told whenever a group is killed (timeout, fencing)


def when_killed(listener: Callable[[str], None]) -> None:
    """Call `listener(why)` after a run's group is killed for its deadline or by fencing: what
    the run was using outside its group (stacks.provider_host's servers) must stop too."""
    _when_killed.append(listener)


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """CLI calls made by this thread inside the block are killed once `seconds` have passed
    since it was entered (None or 0: no deadline)."""
    saved = getattr(_local, "deadline", None)
    _local.deadline = (time.monotonic() + seconds, seconds) if seconds else None
    _local.timed_out = []
    try:
        yield
    finally:
        _local.deadline = saved


def timed_out_groups() -> list[int]:
    return list(getattr(_local, "timed_out", []))


def _kill_group(pgid: int, why: str) -> None:
    with _groups_lock:
        if pgid not in _groups:
            return  # already over
        _groups[pgid] = why
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for listener in _when_killed:
        listener(why)


def fence(why: str = "fenced") -> list[int]:
    """Kill every engine process group of this process now (see EngineFenced)."""
    with _groups_lock:
        pgids = list(_groups)
    for pgid in pgids:
        _kill_group(pgid, why)
    for listener in _when_killed:
        listener(why)  # even with no run going: nothing of this process may act on stacks now
    return pgids


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes still in process group `pgid`."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry))
    return members


class SupervisedCommand(auto.PulumiCommand):
    """PulumiCommand.run (pulumi 3.x), with the CLI started as described in the module docstring."""

    def run(self, args: list[str], cwd: str, additional_env: Mapping[str, str],
            on_output: Optional[OnOutput] = None, on_error: Optional[OnOutput] = None) -> CommandResult:
        sep_index = args.index("--") if "--" in args else len(args)
        if "--non-interactive" not in args[:sep_index]:
            args.insert(0, "--non-interactive")
        env = {**inherited_environment(), **additional_env, "PULUMI_AUTOMATION_API": "true"}
        mark = env[orphans.MARK] = orphans.new_mark()  # the plugins inherit it (stacks/orphans.py)
        if os.path.isabs(self.command):
            env = _fixup_path(env, os.path.dirname(self.command))
        chunks: dict[str, list[str]] = {"out": [], "err": []}

        def consume(stream, callback, into):
            for line in iter(stream.readline, ""):
                stripped = line.rstrip()
                if callback:
                    callback(stripped)
                into.append(stripped)
            stream.close()

        limit = getattr(_local, "deadline", None)
        if limit and time.monotonic() >= limit[0]:
            raise EngineRunTimedOut(limit[1], timed_out_groups())
        with subprocess.Popen([*_DYING_WITH_PARENT, "/bin/sh", "-c", _LEADER, self.command, *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env, encoding="utf-8",
                              process_group=0) as process:
            pgid = process.pid
            with _groups_lock:
                _groups[pgid] = ""
            timer = None
            if limit:
                timer = threading.Timer(max(0.0, limit[0] - time.monotonic()), _kill_group, (pgid, "timeout"))
                timer.daemon = True
                timer.start()
            readers = [threading.Thread(target=consume, args=(process.stdout, on_output, chunks["out"])),
                       threading.Thread(target=consume, args=(process.stderr, on_error, chunks["err"]))]
            try:
                for reader in readers:
                    reader.start()
                for reader in readers:
                    reader.join()
                process.wait()
            finally:
                if timer:
                    timer.cancel()
                with _groups_lock:
                    why = _groups.pop(pgid, "")
                # Whatever the CLI left running in its group (a plugin it did not stop) goes too.
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                # And the plugins the CLI started in groups of their own (they carry its mark).
                orphans.kill_left_behind(mark)
        if why == "timeout":
            _local.timed_out = [*getattr(_local, "timed_out", []), pgid]
            raise EngineRunTimedOut(limit[1], timed_out_groups())
        if why:
            raise EngineFenced(f"engine run stopped: {why}")
        result = CommandResult(stderr="\n".join(chunks["err"]), stdout="\n".join(chunks["out"]),
                               code=process.returncode)
        if process.returncode != 0:
            raise create_command_error(result)
        return result
