"""No engine process outlives the run that started it (issue 28, item 3), on the real engine.

`mpanel chaos` found `pulumi-resource-command` plugins reparented to init after their Pulumi
CLI was SIGKILLed mid-run: the CLI starts each plugin in a process group of its own, so
nothing reached them. Here a real worker converges a real order; the CLI is SIGKILLed while
its command plugin runs; once the run is over and the worker stopped, no plugin of this
system is left.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.devtools.chaos.system import _state_dir_of, processes
from tests.factories import make_subscription
from tests.polling import wait_for


def _ours(name_prefix: str) -> list:
    mine = str(Path(os.environ["MPANEL_STATE_DIR"]).resolve())
    return [p for p in processes() if p.name.startswith(name_prefix) and _state_dir_of(p.pid) == mine]


@pytest.fixture
def worker(settings, tmp_path):
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--concurrency", "2"],
                                stdout=out, stderr=subprocess.STDOUT)
    proc.log = log
    yield proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(60)


def test_no_command_plugin_survives_its_cli_killed_mid_run(db_conn, settings, layout, worker):
    from app import db
    from app.jobs.defer import request_converge
    from tools.services import supervisor

    assert not _ours("pulumi-resource-command"), "a plugin of this system was already running"
    sid = make_subscription(db_conn, settings)
    # The web server's SSH hangs (stopped, not closed): the plugin is busy dialing it, for up to
    # half a minute, when its CLI dies. A busy plugin is what outlived its CLI under chaos.
    sshd = supervisor.read_run_file(layout)["servers"]["ssh"]["pid"]
    os.kill(sshd, signal.SIGSTOP)
    try:
        with db.transaction(settings.DATABASE_URL) as conn:
            assert request_converge(conn, sid)
        plugins = wait_for(lambda: _ours("pulumi-resource-command"), 240, "the command plugin to start")
        time.sleep(2)  # dialing
        clis = [p for p in _ours("pulumi") if p.name == "pulumi"]
        assert clis, "no Pulumi CLI found beside its plugin"
        for cli in clis:
            os.kill(cli.pid, signal.SIGKILL)
        # Gone with the CLI call, not when its dial would have given up.
        wait_for(lambda: not any(p.pid in {q.pid for q in _ours("pulumi-resource-command")} for p in plugins) or None,
                 8, f"the plugins {[p.pid for p in plugins]} to end with their CLI")
    finally:
        os.kill(sshd, signal.SIGCONT)
    worker.terminate()
    worker.wait(90)
    left = _ours("pulumi-resource-")
    assert not left, f"engine plugins outlived their run and their worker: {left}"

    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    db_conn.execute("DELETE FROM procrastinate_jobs WHERE status = 'todo' AND lock = %s", (f"sub-{sid}",))
