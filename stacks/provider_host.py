"""One running dynamic-provider server per worker process, attached to by every engine run.

Left to itself the engine starts the dynamic providers' Python for every operation (twice for
an `up --refresh`: once to refresh, once to update), imports every provider module in it, and
stops it at the end: ~1.2 s of a 2-core machine's converge each time (`mpanel bench profile`).
Here a server (stacks.provider_server) is started once, per provider configuration, and each
engine run is pointed at it with PULUMI_DEBUG_PROVIDERS, the engine's own way to use a running
provider.

What stays as it was:
- the configuration: the server is started with the run's engine environment (endpoints and
  keys, MPANEL_PROVIDER_CONFIG); a run whose environment differs (a web server added, a token
  rotated) gets a server of its own, and the old one stops when its last run ends;
- nothing outlives the worker: the server gets SIGTERM when the worker dies (PR_SET_PDEATHSIG,
  set from a thread that lives exactly as long as the server);
- a run killed for its deadline or by fencing (stacks.supervision) takes this process's servers
  with it, so no provider call of a stopped run goes on upstream; runs sharing a server with it
  fail and are retried like any other failed run;
- a server that died is replaced by the next run; MPANEL_PROVIDER_HOST=off (or 0) turns all of
  this off and the engine starts its own provider process per run again.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, Mapping

from stacks import supervision

ATTACH_VAR = "PULUMI_DEBUG_PROVIDERS"
STARTUP_SECONDS = 60


def enabled() -> bool:
    return os.environ.get("MPANEL_PROVIDER_HOST", "on").lower() not in ("off", "0", "false", "no")


class ProviderServer:
    """One `python -m stacks.provider_server` process and the runs using it."""

    def __init__(self, env: Mapping[str, str]):
        self.users = 0
        self.retired = False
        self.process: subprocess.Popen | None = None
        ready = threading.Event()
        failure: list[BaseException] = []

        def keep() -> None:
            # PR_SET_PDEATHSIG fires when the *thread* that started the child ends: this thread
            # lives until the server exits, so the server dies with the worker and not before.
            try:
                self.process = subprocess.Popen(
                    [*supervision._DYING_WITH_PARENT, sys.executable, "-u", "-m", "stacks.provider_server"],
                    env={**supervision.inherited_environment(), **env, "PULUMI_PROJECT": env.get("PULUMI_PROJECT", "mpanel")},
                    stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, process_group=0)
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self.process.wait()

        self.keeper = threading.Thread(target=keep, name="provider-server", daemon=True)
        self.keeper.start()
        ready.wait()
        if failure:
            raise failure[0]
        self.port = self._read_port()

    def _read_port(self) -> int:
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(STARTUP_SECONDS)
        text = line[0].strip() if line else b""
        if not text.isdigit():
            self.stop()
            raise RuntimeError(f"the provider server did not start (exit {self.process.poll()}, said {text!r})")
        return int(text)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


_servers: dict[str, ProviderServer] = {}  # fingerprint of the engine environment -> its server
_lock = threading.Lock()


def _fingerprint(env: Mapping[str, str]) -> str:
    return hashlib.sha256(repr(sorted(env.items())).encode()).hexdigest()


@contextmanager
def attached(env: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """The variables that point one engine run at this configuration's server (empty when
    turned off), the server started or replaced as needed; held for the run's duration."""
    if not enabled():
        yield {}
        return
    key = _fingerprint(env)
    with _lock:
        server = _servers.get(key)
        if server is None or not server.alive():
            server = _servers[key] = ProviderServer(env)
            _retire_others(key)
        server.users += 1
    try:
        yield {ATTACH_VAR: f"pulumi-python:{server.port}"}
    finally:
        with _lock:
            server.users -= 1
            if server.retired and server.users == 0:
                server.stop()


def _retire_others(current: str) -> None:
    """Servers of an older configuration stop once no run uses them (called holding _lock)."""
    for key, server in list(_servers.items()):
        if key != current:
            del _servers[key]
            server.retired = True
            if server.users == 0:
                server.stop()


def stop_all(_why: str = "") -> None:
    """Kill every server of this process now (a run timed out or was fenced)."""
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.stop()


def running_pids() -> list[int]:
    with _lock:
        return [s.process.pid for s in _servers.values() if s.alive()]


supervision.when_killed(stop_all)
