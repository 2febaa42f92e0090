"""Keeps a set of named processes running: one that dies is started again, with backoff.

One death never stops the others. Each death is reported in one line, with the delay
before the restart; the delay doubles from `first` up to `cap` while a process keeps
dying young, and is forgiven once it has run `healthy_after` seconds. Used by `mpanel worker`
for its child processes, by `mpanel run` for the web app and the worker, and by the
local-server supervisor (tools/services/supervisor.py: the setup tooling takes it from here,
the worker never imports the tooling).
"""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable


_PR_SET_PDEATHSIG = 1


def stop_on_signal() -> threading.Event:
    """An event set by SIGTERM or SIGINT (Ctrl-C): a long-running command checks it, or waits
    on it, and then stops in its own orderly way instead of dying where the signal found it."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def die_with_parent() -> Callable[[], None]:
    """A `preexec_fn` that has the child sent SIGTERM when its parent dies (Linux).

    A SIGKILLed worker parent would otherwise leave its children working on beside the
    children of its replacement, and beyond the reach of `mpanel run`'s Ctrl-C. prctl is
    looked up here, in the parent, so the child only makes the call.
    """
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    return preexec


@dataclass
class Backoff:
    """Capped doubling delay before a restart; reset after a run of `healthy_after` seconds."""

    first: float = 1.0
    cap: float = 30.0
    healthy_after: float = 60.0
    failures: int = 0

    def next_delay(self, ran_for: float) -> float:
        if ran_for >= self.healthy_after:
            self.failures = 0
        delay = min(self.cap, self.first * 2 ** self.failures)
        self.failures += 1
        return delay


def how_it_ended(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


@dataclass
class KeptProcess:
    name: str
    spawn: Callable[[], subprocess.Popen]
    backoff: Backoff
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None  # set while dead and waiting out its backoff
    restarts: int = 0
    last_death: str = ""
    stop_signal: int = signal.SIGTERM


def _print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class KeepAlive:
    """`check()` from a loop; `stop()` at the end. `say` gets one line per death."""

    say: Callable[[str], None] = _print_to_stderr
    clock: Callable[[], float] = time.monotonic
    backoff: Callable[[], Backoff] = Backoff
    kept: dict[str, KeptProcess] = field(default_factory=dict)

    def add(self, name: str, spawn: Callable[[], subprocess.Popen],
            stop_signal: int = signal.SIGTERM) -> subprocess.Popen:
        """Start `spawn()` now and keep it running from here on; `stop()` asks it to end with `stop_signal`."""
        entry = KeptProcess(name, spawn, self.backoff(), stop_signal=stop_signal)
        self.kept[name] = entry
        self._start(entry)
        return entry.proc

    def _start(self, entry: KeptProcess) -> None:
        entry.restart_at = None
        entry.started_at = self.clock()
        entry.proc = entry.spawn()

    @property
    def running(self) -> dict[str, subprocess.Popen]:
        return {name: e.proc for name, e in self.kept.items() if e.proc is not None and e.restart_at is None}

    def check(self) -> list[str]:
        """Notice deaths and restart those whose backoff is over; returns the names restarted."""
        now = self.clock()
        restarted = []
        for entry in self.kept.values():
            if entry.restart_at is None:
                if entry.proc is None or entry.proc.poll() is None:
                    continue
                ran_for = now - entry.started_at
                delay = entry.backoff.next_delay(ran_for)
                entry.restart_at = now + delay
                entry.restarts += 1
                entry.last_death = (f"{entry.name} (pid {entry.proc.pid}) {how_it_ended(entry.proc.returncode)} "
                                    f"after {ran_for:.0f}s; restarting in {delay:.0f}s (restart {entry.restarts})")
                self.say(entry.last_death)
            if now >= entry.restart_at:
                try:
                    self._start(entry)
                except OSError as exc:  # e.g. the program vanished; try again after the next backoff
                    entry.restart_at = now + entry.backoff.next_delay(0)
                    self.say(f"{entry.name} could not be started: {exc}")
                    continue
                restarted.append(entry.name)
        return restarted

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate everything, last started first, then kill what outlives `timeout`."""
        names = list(reversed(self.kept))
        for name in names:
            proc = self.kept[name].proc
            if proc is not None and proc.poll() is None:
                proc.send_signal(self.kept[name].stop_signal)
        deadline = self.clock() + timeout
        for name in names:
            proc = self.kept.pop(name).proc
            if proc is None:
                continue
            try:
                proc.wait(max(0.0, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
