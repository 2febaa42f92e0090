"""`mpanel run` starts again the web app or the worker when one dies, says so in one line,
and keeps everything else running."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests

from tests.integration.supervision.test_restarts import _children_of, _wait_for


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _child_running(parent: int, word: str) -> int | None:
    for pid in _children_of(parent):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if word.encode() in argv:
            return pid
    return None


@pytest.fixture
def mpanel_run(services, tmp_path):
    port = int(os.environ["MPANEL_PORT_BASE"]) + 650  # beside any app the other tests serve
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "run", "--port", str(port), "--threads", "4"],
                                stdout=subprocess.DEVNULL, stderr=out,
                                env={**os.environ, "MPANEL_WORKER_CONCURRENCY": "1"})
    proc.port, proc.log = port, log
    yield proc
    proc.terminate()
    proc.wait(60)


def test_the_web_app_and_the_worker_come_back_and_the_local_servers_stay(mpanel_run, layout):
    from tools.services import supervisor

    servers_before = supervisor.read_run_file(layout)["pid"]
    _wait_for(lambda: _answers(mpanel_run.port), 60, "the web app to answer")
    web = _child_running(mpanel_run.pid, "serve")
    worker = _wait_for(lambda: _child_running(mpanel_run.pid, "worker"), 30, "the worker")

    os.kill(web, signal.SIGKILL)
    _wait_for(lambda: (pid := _child_running(mpanel_run.pid, "serve")) and pid != web, 30, "a new web app")
    _wait_for(lambda: _answers(mpanel_run.port), 60, "the new web app to answer")
    assert _child_running(mpanel_run.pid, "worker") == worker, "the worker was left alone"

    os.kill(worker, signal.SIGKILL)
    _wait_for(lambda: (pid := _child_running(mpanel_run.pid, "worker")) and pid != worker, 30, "a new worker")
    assert _answers(mpanel_run.port)
    assert mpanel_run.poll() is None
    assert supervisor.read_run_file(layout)["pid"] == servers_before, "the local servers were never stopped"

    lines = [line for line in mpanel_run.log.read_text().splitlines() if line.startswith("mpanel run:")]
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"mpanel run: web app (pid {web}) was killed by SIGKILL")
    assert lines[1].startswith(f"mpanel run: worker (pid {worker}) was killed by SIGKILL")

    mpanel_run.terminate()
    assert mpanel_run.wait(60) == 0
    assert supervisor.read_run_file(layout) is not None, "servers mpanel run did not start are not its to stop"
