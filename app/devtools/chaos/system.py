"""What `mpanel chaos` does to the running system: find and SIGKILL its worker and engine
processes, take its local servers down, drop its PostgreSQL connections, and inject faults
through the stand-ins' control API (sandbox/common/faults.py).

Only processes of this system are touched: those whose environment names the same
MPANEL_STATE_DIR (other checkouts and test runs on the machine have their own).
"""
from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import requests

from app.settings import CHECKOUT, Settings

# The engine's processes, by executable name: the Pulumi CLI, its plugins (Go providers and
# the dynamic-provider shim) and the Python that hosts the dynamic providers.
ENGINE_NAMES = ("pulumi", "pulumi-resource-", "pulumi-language-")
# The worker child whose lanes include billing (app/cli/worker.py SERVICE_QUEUES).
BILLING_LANE = "billing"


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    argv: tuple[str, ...]

    @property
    def name(self) -> str:
        return Path(self.argv[0]).name if self.argv else ""

    @property
    def is_worker(self) -> bool:
        return "app.cli" in self.argv and "worker" in self.argv

    @property
    def is_worker_child(self) -> bool:
        return self.is_worker and "--queues" in self.argv

    @property
    def lane(self) -> str:
        if not self.is_worker_child:
            return ""
        return self.argv[self.argv.index("--queues") + 1]

    @property
    def is_engine(self) -> bool:
        return self.name.startswith(ENGINE_NAMES) or any("pulumi" in a and "dynamic" in a for a in self.argv[:4])


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _state_dir_of(pid: int) -> str | None:
    env = dict(item.split(b"=", 1) for item in _read(f"/proc/{pid}/environ").split(b"\0") if b"=" in item)
    value = env.get(b"MPANEL_STATE_DIR")
    return str(Path(value.decode()).resolve()) if value else str((CHECKOUT / ".state").resolve())


def processes() -> list[Proc]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read(f"/proc/{entry}/stat").decode(errors="replace")
        if not stat:
            continue
        argv = tuple(a.decode(errors="replace") for a in _read(f"/proc/{entry}/cmdline").split(b"\0") if a)
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
        found.append(Proc(int(entry), int(stat.rsplit(")", 1)[1].split()[1]), argv))
    return found


class System:
    """The processes of the system living in `state_dir`."""

    def __init__(self, state_dir: Path):
        self.state_dir = str(Path(state_dir).resolve())

    def workers(self) -> tuple[list[Proc], list[Proc]]:
        """(worker processes of this system, the engine processes below them)."""
        every = processes()
        ours = [p for p in every if p.is_worker and _state_dir_of(p.pid) == self.state_dir]
        children: dict[int, list[Proc]] = {}
        for p in every:
            children.setdefault(p.ppid, []).append(p)
        engine, todo = [], [p.pid for p in ours]
        while todo:
            for child in children.get(todo.pop(), []):
                if not child.is_worker:
                    if child.is_engine:
                        engine.append(child)
                    todo.append(child.pid)
        return ours, engine

    @staticmethod
    def running_engine(workers: list[Proc], engine: list[Proc]) -> dict[int, list[Proc]]:
        """Each worker child running an engine operation, with that operation's processes."""
        children = {w.pid for w in workers if w.is_worker_child}
        parent = {p.pid: p.ppid for p in processes()}
        found: dict[int, list[Proc]] = {}
        for proc in engine:
            pid = proc.ppid
            while pid and pid not in children and pid in parent:
                pid = parent[pid]
            if pid in children:
                found.setdefault(pid, []).append(proc)
        return found


def kill(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


class Killer:
    """SIGKILLs at random moments: of engine runs, a converge worker child (the run dies with
    it; procrastinate's stalled-job recovery and the stack's recovery take over) or one engine
    process (CLI, provider plugin, dynamic-provider host); and, whenever it comes, the
    billing-and-mail child (a welcome email, a Stripe event or a sweep dies with it; the
    stalled-job sweep hands its job back)."""

    def __init__(self, system: System, rng: random.Random, targets: str = "all"):
        self.system = system
        self.rng = rng
        self.targets = targets  # all, engine (only the engine's processes), workers (only worker children)
        self.kills: dict[str, int] = {}
        self.missed = 0  # kills that found nothing to hit in their time (not delivered)

    def _target(self) -> str:
        roll = self.rng.random()
        if self.targets == "engine":
            return "engine"
        if self.targets == "workers":
            return "converge worker" if roll < 0.6 else "billing worker"
        return "engine" if roll < 0.5 else "converge worker" if roll < 0.8 else "billing worker"

    def _seen(self, look, deadline: float):
        """What `look()` finds, polled until `deadline`; None (counted as missed) if nothing by then."""
        while True:
            found = look()
            if found:
                return found
            if time.monotonic() > deadline:
                self.missed += 1
                return None
            time.sleep(0.1)

    def _random_moment(self, deadline: float) -> None:
        time.sleep(self.rng.uniform(0, min(1.5, max(0.0, deadline - time.monotonic()))))

    def kill_one(self, wait_for_run: float = 20.0) -> str | None:
        """One SIGKILL; None (counted as missed) when what it is for was not seen within
        `wait_for_run` seconds: an engine run (an idle worker is not what this is about), or
        the billing-and-mail child."""
        target = self._target()
        deadline = time.monotonic() + wait_for_run
        if target == "billing worker":
            lanes = self._seen(lambda: [w for w in self.system.workers()[0] if BILLING_LANE in w.lane.split(",")],
                               deadline)
            if not lanes:
                return None
            self._random_moment(deadline)
            return self._kill(self.rng.choice(lanes).pid, "billing-and-mail worker")
        if not self._seen(lambda: self.system.workers()[1], deadline):
            return None
        self._random_moment(deadline)
        workers, engine = self.system.workers()
        running = self.system.running_engine(workers, engine)  # worker child pid -> its engine processes
        if not running:
            self.missed += 1
            return None
        child = self.rng.choice(sorted(running))
        if target == "engine":
            victim = self.rng.choice(running[child])
            return self._kill(victim.pid, "engine CLI" if victim.name == "pulumi" else "engine provider")
        return self._kill(child, "converge worker mid-run")

    def _kill(self, pid: int, kind: str) -> str | None:
        if kill(pid):
            self.kills[kind] = self.kills.get(kind, 0) + 1
            return kind
        self.missed += 1
        return None


# --- local servers --------------------------------------------------------------------------

def hold_down(layout, name: str, seconds: float) -> int:
    """Stop local server `name` for `seconds`: SIGKILL it, and every restart its supervisor
    makes meanwhile (a crash loop, as a broken server would be); then let it come back.
    Returns how many processes were killed."""
    from tools.services import supervisor

    killed, seen = 0, set()
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        run = supervisor.read_run_file(layout)
        pid = run and run["servers"].get(name, {}).get("pid")
        if pid and pid not in seen:
            if kill(pid):
                killed += 1
            seen.add(pid)
        time.sleep(0.1)
    return killed


def wait_ready(layout, name: str, timeout: float = 90.0) -> float:
    """Seconds until local server `name` answers again."""
    from tools.services.servers import all_servers

    server = next(s for s in all_servers(layout) if s.name == name)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if server.ready():
                return time.monotonic() - started
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"local server {name} did not come back within {timeout:.0f}s")


def drop_connections(settings: Settings, seconds: float, every: float = 1.5) -> int:
    """PostgreSQL stays up, but every connection of the app, the queue, the engine's backend
    and mail-core is terminated, again and again for `seconds`."""
    dropped = 0
    until = time.monotonic() + seconds
    while True:
        with psycopg.connect(settings.DATABASE_URL, autocommit=True, connect_timeout=10) as conn:
            dropped += conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND backend_type = 'client backend' AND datname IN ('mpanel', 'pulumi', 'mailcore')"
            ).fetchone()[0]
        if time.monotonic() >= until:
            return dropped
        time.sleep(every)


# --- the stand-ins' fault API ---------------------------------------------------------------

class StandIns:
    def __init__(self, settings: Settings):
        self.urls = {"whm": settings.CPANEL_WHM_URL.rstrip("/"),
                     "namesilo": settings.NAMESILO_API_URL.rstrip("/").removesuffix("/api"),
                     "stripe": settings.STRIPE_API_BASE.rstrip("/")}

    def inject(self, standin: str, fault: dict) -> dict:
        r = requests.post(f"{self.urls[standin]}/_sandbox/faults", json=fault, timeout=10)
        r.raise_for_status()
        return r.json()

    def faults(self, standin: str) -> list[dict]:
        r = requests.get(f"{self.urls[standin]}/_sandbox/state", timeout=30)
        r.raise_for_status()
        return r.json()["faults"]

    def clear(self, standin: str) -> None:
        requests.delete(f"{self.urls[standin]}/_sandbox/faults", timeout=10).raise_for_status()


def operations(standin: str) -> list[str]:
    """Every operation kind a stand-in answers (what its faults can be keyed by)."""
    if standin == "whm":
        from sandbox.whm.app import FUNCTIONS
        return sorted(FUNCTIONS)
    if standin == "namesilo":
        from sandbox.namesilo.app import OPERATIONS
        return sorted(OPERATIONS)
    from sandbox.stripe.api import OPERATIONS as STRIPE
    return sorted(STRIPE)


def transient_fault(standin: str, operation: str, rng: random.Random) -> dict:
    """One fault that an outage ends: a 5xx, a hang (done or not), a slow answer, or the
    stand-in's own "try again" refusal."""
    kind = rng.choice(("http", "timeout", "latency", "code"))
    if kind == "http":
        return {"operation": operation, "kind": "http", "status": rng.choice((500, 502, 503, 504)),
                "count": rng.randint(1, 2)}
    if kind == "timeout":
        return {"operation": operation, "kind": "timeout", "seconds": rng.uniform(1, 4),
                "commit": rng.random() < 0.5, "count": 1}
    if kind == "latency":
        return {"operation": operation, "kind": "latency", "ms": rng.randint(100, 1500), "count": rng.randint(1, 3)}
    if standin == "whm":
        return {"operation": operation, "kind": "code", "reason": "The system is busy; try again later.", "count": 1}
    if standin == "namesilo":
        return {"operation": operation, "kind": "code", "code": 115, "count": 1}
    return {"operation": operation, "kind": "code", "code": 429, "count": 1}
