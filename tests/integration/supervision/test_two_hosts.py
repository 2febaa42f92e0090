"""Two worker "hosts" on this machine, with the same hostname, sharing only PostgreSQL (and the
servers): one is SIGKILLed mid-`up`, and the other finishes the stack, from heartbeats alone.

Each host is a network namespace (its own loopback, a veth pair to this namespace) and a UTS
namespace (hostname `mpanel-twin` in both). Inside, a relay on its 127.0.0.1 forwards every
server port over the veth pair to a relay here, which forwards to the real servers on
127.0.0.1; so both hosts use the very endpoints (and the very PostgreSQL) the settings name.
"""
from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from app import db
from app.jobs.defer import request_converge
from tests.factories import make_subscription, unique_domain
from tests.integration.converge.conftest import Servers
from tests.polling import wait_for

CHECKOUT = Path(__file__).resolve().parents[3]
HOSTNAME = "mpanel-twin"
RECOVERY_BUDGET = 120  # seconds: the "recovered within 2 minutes"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _ports(settings) -> tuple[list[int], list[int]]:
    """Every local server port the settings name (TCP), and the DNS server's (UDP too)."""
    tcp = {settings.SMTP_PORT}
    for value in vars(settings).values():
        if isinstance(value, str):
            tcp.update(int(p) for p in re.findall(r"(?:127\.0\.0\.1|localhost):(\d+)", value))
    udp = [int(settings.POWERDNS_DNS_ADDRESS.rpartition(":")[2])]
    return sorted(tcp), udp


def _relay(listen: str, to: str, tcp: list[int], udp: list[int], netns: str | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.integration.supervision.relay", "--listen", listen, "--to", to,
               "--tcp", ",".join(map(str, tcp)), "--udp", ",".join(map(str, udp))]
    if netns:
        command = ["ip", "netns", "exec", netns, *command]
    proc = subprocess.Popen(command, cwd=CHECKOUT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout.readline().strip() == "relay ready", f"relay on {listen} did not start"
    return proc


class Hosts:
    """Network namespaces and veth pairs made for this test, removed afterwards."""

    def __init__(self):
        self.tag = secrets.token_hex(2)
        self.subnet = 200 + secrets.randbelow(50)
        self.names: list[str] = []
        self.added: list[tuple[str, str, str]] = []
        self.procs: list[subprocess.Popen] = []

    def add(self, n: int) -> tuple[str, str, str]:
        """Host n: (netns name, host-side address, host address on the veth)."""
        ns, outside, inside = f"mph1-{self.tag}-{n}", f"10.{self.subnet}.{n}.1", f"10.{self.subnet}.{n}.2"
        _ip("netns", "add", ns)
        self.names.append(ns)
        here, there = f"vh{self.tag}{n}", f"vn{self.tag}{n}"
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", ns)
        _ip("addr", "add", f"{outside}/30", "dev", here)
        _ip("link", "set", here, "up")
        _ip("-n", ns, "addr", "add", f"{inside}/30", "dev", there)
        _ip("-n", ns, "link", "set", there, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        self.added.append((ns, outside, inside))
        return ns, outside, inside

    def pids(self, ns: str) -> set[int]:
        out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
        return {int(p) for p in out.split()}

    def remove(self) -> None:
        # Workers first (while their relays still carry their goodbyes), then the relays.
        for procs in ([p for p in self.procs if "app.cli worker" in " ".join(p.args)], self.procs):
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for ns in self.names:
            for pid in self.pids(ns):  # anything still in there (there should be nothing)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)  # its veth pair goes with it


@pytest.fixture
def hosts():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    made = Hosts()
    try:
        made.add(0)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        made.remove()
        detail = getattr(exc, "stderr", "") or exc
        pytest.skip(f"network namespaces are not available here: {detail}")
    try:
        yield made
    finally:
        made.remove()


def _worker(ns: str, log: Path) -> subprocess.Popen:
    """`mpanel worker` on host `ns`: its own UTS namespace (hostname mpanel-twin) and network."""
    env = {**os.environ, "MPANEL_WORKER_HEARTBEAT_SECONDS": "1", "MPANEL_WORKER_DEAD_AFTER_SECONDS": "5",
           "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:
        return subprocess.Popen(
            ["ip", "netns", "exec", ns, "unshare", "--uts", "sh", "-c",
             f'hostname {HOSTNAME} && exec "$0" -m app.cli worker --concurrency 1', sys.executable],
            cwd=CHECKOUT, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_a_host_killed_mid_up_is_recovered_by_the_other_host(settings, db_conn, hosts, tmp_path):
    servers = Servers(settings)
    tcp, udp = _ports(settings)
    first = hosts.added[0][:2]
    second = hosts.add(1)[:2]
    hosts.procs.append(_relay(f"{first[1]},{second[1]}", "127.0.0.1", tcp, udp))
    workers = {}
    for ns, outside in (first, second):
        hosts.procs.append(_relay("127.0.0.1", outside, tcp, udp, netns=ns))
        workers[ns] = _worker(ns, tmp_path / f"{ns}.log")
        hosts.procs.append(workers[ns])
    pid_to_host = {proc.pid: ns for ns, proc in workers.items()}

    def registered():
        rows = db_conn.execute("SELECT id, pid, hostname FROM workers WHERE pid = ANY(%s) "
                               "AND last_heartbeat > now() - interval '5 seconds'", (list(pid_to_host),)).fetchall()
        return rows if len(rows) == 2 else None
    twins = wait_for(registered, deadline=60, what="both hosts' workers heartbeating")
    assert {w["hostname"] for w in twins} == {HOSTNAME}  # the same hostname on both
    worker_host = {w["id"]: pid_to_host[w["pid"]] for w in twins}

    domain = unique_domain("twohost")
    sid = make_subscription(db_conn, settings, domain=domain)
    faults = f"{settings.CPANEL_WHM_URL}/_sandbox/faults"
    # WHM answers the first createacct 6 s late: the run is surely mid-`up` when its host dies.
    requests.post(faults, json={"operation": "createacct", "kind": "latency", "ms": 6000, "count": 1},
                  timeout=10).raise_for_status()
    try:
        with db.transaction(settings.DATABASE_URL) as conn:
            request_converge(conn, sid)

        def running_with_steps():
            return db_conn.execute(
                "SELECT r.id, r.worker_id FROM provisioning_runs r WHERE r.subscription_id = %s "
                "AND r.status = 'running' AND EXISTS (SELECT 1 FROM provisioning_events e WHERE e.run_id = r.id)",
                (sid,)).fetchone()
        doomed_run = wait_for(running_with_steps, deadline=60, what="a run recorded running, mid-up")
        doomed_host = worker_host[doomed_run["worker_id"]]
        survivor_host = next(ns for ns in workers if ns != doomed_host)
        survivor_id = next(w for w, ns in worker_host.items() if ns == survivor_host)

        killed_at = time.monotonic()
        workers[doomed_host].send_signal(signal.SIGKILL)  # the worker alone: its engine must die with it
        workers[doomed_host].wait()

        def ready():
            row = db_conn.execute("SELECT provisioning_status FROM subscriptions WHERE id = %s", (sid,)).fetchone()
            return row["provisioning_status"] == "ready"
        wait_for(ready, deadline=RECOVERY_BUDGET, what="the other host to finish the stack")
        took = time.monotonic() - killed_at
    finally:
        requests.delete(faults, timeout=10)
    print(f"recovered by the other host {took:.1f} s after the SIGKILL")

    runs = db_conn.execute("SELECT id, status, error, worker_id FROM provisioning_runs WHERE subscription_id = %s "
                           "ORDER BY id", (sid,)).fetchall()
    dead = next(r for r in runs if r["id"] == doomed_run["id"])
    assert dead["status"] == "failed" and dead["error"].startswith("interrupted:"), dead
    assert runs[-1]["status"] == "succeeded" and runs[-1]["worker_id"] == survivor_id, runs
    assert took < RECOVERY_BUDGET
    assert len(servers.whm_accounts_for(domain)) == 1
    assert servers.zone(domain) is not None
    # Nothing of the killed worker runs on: no Pulumi CLI, no provider plugin (only its relay).
    relay_of_doomed = {p.pid for p in hosts.procs if p.args[:4] == ["ip", "netns", "exec", doomed_host]
                       and "relay" in " ".join(p.args)}
    wait_for(lambda: hosts.pids(doomed_host) <= relay_of_doomed, deadline=10,
             what="no process of the killed host's worker left")
