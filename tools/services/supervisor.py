"""Starts the local servers as foreground children, keeps them running, stops them.

A server that dies is started again with backoff (stacks/keepalive.py) while
the others keep serving; its pid, restart count and last death are in the run file.

`mpanel services up` runs this in a detached process (or in the foreground with
--foreground, as `make run` does); `down` signals it; `status` reads the run file
it keeps and probes every server for real.
"""
from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from stacks.install import CannotRun
from stacks.keepalive import KeepAlive, stop_on_signal

from .layout import Layout, current
from . import acl
from .servers import Server, ServerCannotStart, all_servers, first_closed_directory, user_groups


class ServiceError(CannotRun):
    """A clear, single-line reason why the local servers are not running."""


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _say(line: str) -> None:
    print(f"mpanel services: {line}", file=sys.stderr, flush=True)


def check_reachable(servers: list[Server]) -> None:
    """Before anything starts: every server's user can reach the directories it works in.

    A state directory made by `mktemp -d` (mode 700, owned by root) is the usual case: initdb,
    running as postgres, could not enter it. Directories of the state directory (itself
    included) stay as private as they were and get one ACL entry letting that user traverse
    them; a closed directory above it is the operator's, so it is refused, naming the command
    that opens it, before anything starts.
    """
    for server in servers:
        root = Path(os.path.abspath(server.layout.root))
        for user, path in server.reached_by():
            while (closed := first_closed_directory(path, user)) is not None:
                mode = closed.stat().st_mode & 0o777
                if closed == root or root in closed.parents:
                    try:
                        acl.grant_traverse(closed, pwd.getpwnam(user).pw_uid)
                        continue
                    except OSError as exc:
                        raise ServiceError(
                            f"{server.name} runs as user {user}, who cannot enter {closed} (mode {mode:o}), and "
                            f"no ACL could be set there ({exc.strerror}): run `chmod o+x {closed}` or set "
                            f"MPANEL_STATE_DIR to a directory {user} can reach") from None
                raise ServiceError(
                    f"{server.name} runs as user {user}, who cannot enter {closed} (mode {mode:o}), a directory "
                    f"above the state directory: run `chmod o+x {closed}` (or `setfacl -m u:{user}:x {closed}`) "
                    f"or set MPANEL_STATE_DIR to a directory {user} can reach"
                )


def _groups_of(user: str | None) -> dict:
    """A server started as its own user runs with that user's groups, not root's (what
    check_reachable judged the directories by, and nothing more)."""
    if not user or os.geteuid() != 0:
        return {}
    groups = user_groups(user)
    return {"group": pwd.getpwnam(user).pw_gid, "extra_groups": sorted(groups)}


def _log_tail(path: Path, lines: int = 8, offset: int = 0) -> str:
    """The last lines of a log, written after `offset` (this run's, not an earlier run's)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@dataclass
class Supervisor:
    layout: Layout
    servers: list[Server] = field(default_factory=list)
    keeper: KeepAlive = field(default_factory=lambda: KeepAlive(say=_say))

    def __post_init__(self):
        if not self.servers:
            self.servers = all_servers(self.layout)

    @property
    def children(self) -> dict[str, subprocess.Popen]:
        """The servers' processes now running, by server name."""
        return self.keeper.running

    @property
    def run_file(self) -> Path:
        return self.layout.root / "supervisor.json"

    def check_ports(self) -> None:
        for server in self.servers:
            for name, port in server.ports().items():
                if port_taken(port):
                    raise ServiceError(
                        f"port {port} ({server.name} {name}) is already in use on 127.0.0.1; stop what "
                        f"holds it (`ss -ltnp 'sport = :{port}'`) or set MPANEL_PORT_BASE to move all ports"
                    )

    def start(self, timeout: float = 60.0) -> None:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        check_reachable(self.servers)
        self.layout.write_endpoints()
        self.check_ports()
        try:
            for server in self.servers:
                self._start_one(server, timeout)
        except BaseException:
            self.stop()
            raise
        self._write_run_file("ready")

    def _spawn(self, server: Server) -> subprocess.Popen:
        with open(server.log_path, "ab") as log:
            return subprocess.Popen(
                server.argv(), env=server.env(), user=server.user, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=server.home, **_groups_of(server.user),
            )

    def _start_one(self, server: Server, timeout: float) -> None:
        try:
            server.prepare()
        except ServerCannotStart as exc:
            raise ServiceError(str(exc)) from exc
        proc = self.keeper.add(server.name, lambda: self._spawn(server), stop_signal=server.stop_signal)
        deadline = time.monotonic() + timeout
        while not server.ready():
            if proc.poll() is not None:
                raise ServiceError(
                    f"{server.name} exited with code {proc.returncode} while starting; "
                    f"log {server.log_path}:\n{_log_tail(server.log_path)}"
                )
            if time.monotonic() > deadline:
                raise ServiceError(f"{server.name} did not become ready in {timeout:.0f}s; log {server.log_path}")
            time.sleep(0.05)
        server.after_start()

    def stop(self, timeout: float = 10.0) -> None:
        self.keeper.stop(timeout)
        if self.run_file.exists():
            self.run_file.unlink()

    def watch(self, stop_requested, poll: float = 0.2) -> int:
        """Until asked to stop: a server that dies is started again (with backoff), the others
        keep running; each death is one line on stderr and in the run file."""
        seen = self._restart_counts()
        while not stop_requested():
            self.keeper.check()
            now = self._restart_counts()
            if now != seen:
                seen = now
                self._write_run_file("ready")
            time.sleep(poll)
        self.stop()
        return 0

    def _restart_counts(self) -> dict:
        return {name: (e.restarts, e.restart_at is None) for name, e in self.keeper.kept.items()}

    def _write_run_file(self, state: str) -> None:
        data = {
            "pid": os.getpid(), "state": state, "started_at": time.time(),
            "servers": {
                s.name: {"pid": self.keeper.kept[s.name].proc.pid, "ports": s.ports(), "log": str(s.log_path),
                         "restarts": self.keeper.kept[s.name].restarts,
                         "last_death": self.keeper.kept[s.name].last_death}
                for s in self.servers if s.name in self.keeper.kept
            },
        }
        # Replaced, never rewritten in place: `status` and `mpanel run` read it at any moment.
        tmp = self.run_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.run_file)


def read_run_file(layout: Layout) -> dict | None:
    path = layout.root / "supervisor.json"
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(data["pid"], 0)
    except ProcessLookupError:
        return None
    return data


def status(layout: Layout) -> dict:
    run = read_run_file(layout)
    report = {"running": bool(run), "state_dir": str(layout.root), "servers": {}, "endpoints": layout.endpoints()}
    for server in all_servers(layout):
        entry = {"ports": server.ports(), "log": str(server.log_path)}
        try:
            entry["ready"] = server.ready()
        except Exception:
            entry["ready"] = False
        if run and server.name in run["servers"]:
            entry["pid"] = run["servers"][server.name]["pid"]
            entry["restarts"] = run["servers"][server.name].get("restarts", 0)
        report["servers"][server.name] = entry
    return report


def run_foreground(layout: Layout) -> int:
    supervisor = Supervisor(layout)
    stopping = stop_on_signal()
    try:
        supervisor.start()
    except ServiceError as exc:
        print(f"mpanel services: {exc}", file=sys.stderr, flush=True)
        return 1
    print("mpanel services: ready", flush=True)
    return supervisor.watch(stopping.is_set)


def start_detached(layout: Layout, timeout: float = 120.0) -> None:
    """Start the supervisor in the background and return once every server is ready."""
    if read_run_file(layout):
        return
    layout.root.mkdir(parents=True, exist_ok=True)
    check_reachable(all_servers(layout))
    log_path = layout.root / "supervisor.log"
    with open(log_path, "ab") as log:
        offset = log.tell()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tools.services.supervisor"], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "MPANEL_STATE_DIR": str(layout.root), "MPANEL_PORT_BASE": str(layout.port_base),
                 "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
    deadline = time.monotonic() + timeout
    while True:
        run = read_run_file(layout)
        if run and run.get("state") == "ready":
            return
        if proc.poll() is not None:
            raise ServiceError(_log_tail(log_path, 12, offset).strip() or f"supervisor exited with {proc.returncode}")
        if time.monotonic() > deadline:
            proc.terminate()
            raise ServiceError(f"local servers not ready after {timeout:.0f}s; see {log_path}")
        time.sleep(0.1)


def stop_detached(layout: Layout, timeout: float = 30.0) -> bool:
    run = read_run_file(layout)
    if not run:
        return False
    os.kill(run["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while read_run_file(layout) and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


if __name__ == "__main__":
    sys.exit(run_foreground(current()))
