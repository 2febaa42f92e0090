"""One dead process stops nothing else: a killed worker child and a killed local server
come back on their own, the rest never notice, and orders still complete."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.polling import wait_for as _wait_for
from tests.factories import make_subscription
from tools.services import servers as local_servers
from tools.services import supervisor
from tools.services.layout import Layout


def _children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


@pytest.fixture
def worker(settings, tmp_path):
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--concurrency", "2"], stderr=out)
    proc.log = log
    yield proc
    proc.terminate()
    proc.wait(60)


def test_a_killed_worker_child_is_replaced_and_its_siblings_keep_running(worker):
    # Two converge children and one for billing, mail and maintenance.
    first = _wait_for(lambda: len(_children_of(worker.pid)) == 3 and _children_of(worker.pid), 30,
                      "three worker children")
    victim, *siblings = sorted(first)
    os.kill(victim, signal.SIGKILL)
    now = _wait_for(lambda: (c := _children_of(worker.pid)) - first and len(c) == 3 and c, 30,
                    "a new worker child")
    assert set(siblings) <= now and victim not in now, "only the dead child was replaced"
    assert worker.poll() is None, "the worker itself kept running"
    lines = [line for line in worker.log.read_text().splitlines() if line.startswith("mpanel worker:")]
    assert len(lines) == 1 and f"(pid {victim}) was killed by SIGKILL" in lines[0], lines
    assert "restarting in 1s" in lines[0]


def test_a_killed_local_server_is_restarted_by_the_supervisor_and_answers(layout, services):
    before = supervisor.read_run_file(layout)
    pid = before["servers"]["powerdns"]["pid"]
    others = {name: s["pid"] for name, s in before["servers"].items() if name != "powerdns"}
    os.kill(pid, signal.SIGKILL)

    def restarted():
        run = supervisor.read_run_file(layout)
        entry = run and run["servers"]["powerdns"]
        return entry and entry["pid"] != pid and entry["restarts"] >= 1 and run

    run = _wait_for(restarted, 30, "the supervisor to restart PowerDNS")
    assert "was killed by SIGKILL" in run["servers"]["powerdns"]["last_death"]
    _wait_for(local_servers.PowerDNS(layout).ready, 30, "PowerDNS to answer again")
    assert {name: s["pid"] for name, s in run["servers"].items() if name != "powerdns"} == others
    assert supervisor.status(layout)["servers"]["powerdns"]["ready"]


def test_an_order_completes_after_a_worker_child_and_a_local_server_were_killed(db_conn, settings, layout, worker):
    from app import db
    from app.jobs.defer import request_converge

    pdns = supervisor.read_run_file(layout)["servers"]["powerdns"]["pid"]
    os.kill(pdns, signal.SIGKILL)
    children = _wait_for(lambda: len(_children_of(worker.pid)) == 3 and _children_of(worker.pid), 30,
                         "three worker children")
    os.kill(min(children), signal.SIGKILL)
    _wait_for(lambda: len((c := _children_of(worker.pid)) - children) == 1 and len(c) == 3, 30,
              "the worker child to be replaced")
    _wait_for(local_servers.PowerDNS(layout).ready, 30, "PowerDNS to answer again")

    sid = make_subscription(db_conn, settings)
    with db.transaction(settings.DATABASE_URL) as conn:
        assert request_converge(conn, sid)

    def provisioning():
        return db_conn.execute("SELECT provisioning_status FROM subscriptions WHERE id = %s",
                               (sid,)).fetchone()["provisioning_status"]

    _wait_for(lambda: provisioning() in ("ready", "failed"), 180, "the order's converge")
    assert provisioning() == "ready"

    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    with db.transaction(settings.DATABASE_URL) as conn:
        request_converge(conn, sid)
    _wait_for(lambda: provisioning() == "destroyed", 120, "the destroy")


@pytest.fixture
def scratch(tmp_path):
    # Ports of its own, beside the session's servers.
    return Layout(tmp_path / "state", int(os.environ["MPANEL_PORT_BASE"]) + 600)


def test_the_supervisor_restarts_a_dead_server_and_records_it_in_the_run_file(scratch, capsys):
    sup = supervisor.Supervisor(scratch, servers=[local_servers.SmtpSink(scratch)])
    sup.start(timeout=20)
    first = sup.children["smtp"]
    first.kill()
    sink = local_servers.SmtpSink(scratch)
    give_up = time.monotonic() + 30
    recorded = {}

    def back_or_late():
        child = sup.children.get("smtp")
        if child is not None and child.pid != first.pid and sink.ready():
            recorded.update(json.loads(sup.run_file.read_text())["servers"]["smtp"])
            return True
        return time.monotonic() > give_up

    assert sup.watch(back_or_late, poll=0.05) == 0
    assert recorded, "the SMTP sink did not come back"
    assert recorded["restarts"] == 1 and "was killed by SIGKILL" in recorded["last_death"]
    err = capsys.readouterr().err
    assert f"mpanel services: smtp (pid {first.pid}) was killed by SIGKILL" in err
    assert not sup.children and not sup.run_file.exists(), "stopping stops everything"


def test_billing_mail_and_maintenance_have_a_worker_process_of_their_own(worker):
    children = _wait_for(lambda: len(_children_of(worker.pid)) == 3 and _children_of(worker.pid), 30,
                         "three worker children")
    lanes = sorted(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2].decode() for pid in children)
    assert lanes == ["billing,mail,maintenance", "converge", "converge"]
