"""`mpanel serve --processes N`: N processes answer on one port; a killed one is started again
while the others go on answering, and stopping the parent stops them all."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests

from tests.integration.supervision.test_restarts import _children_of, _wait_for


def _answers(port: int) -> bool:
    """A request on a new connection (each one accepted afresh from the shared socket)."""
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2,
                            headers={"Connection": "close"}).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def serving(settings, tmp_path):
    port = int(os.environ["MPANEL_PORT_BASE"]) + 660  # beside any app the other tests serve
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                                 "--processes", "3", "--threads", "2"], stdout=subprocess.DEVNULL, stderr=out)
    proc.port, proc.log = port, log
    try:
        proc.children = _wait_for(lambda: len(c := _children_of(proc.pid)) == 3 and c, 60, "three serving processes")
        _wait_for(lambda: _answers(port), 120, "the app to answer")
        yield proc
    finally:
        proc.terminate()
        proc.wait(60)


def test_each_of_the_serving_processes_answers_on_the_one_port(serving):
    for answering in sorted(serving.children):
        others = serving.children - {answering}
        for pid in others:  # a stopped process takes no connection from the shared socket
            os.kill(pid, signal.SIGSTOP)
        try:
            assert _answers(serving.port), f"process {answering} alone did not answer"
        finally:
            for pid in others:
                os.kill(pid, signal.SIGCONT)


def test_a_killed_serving_process_is_replaced_and_the_port_answers_meanwhile(serving):
    victim, *siblings = sorted(serving.children)
    os.kill(victim, signal.SIGKILL)

    assert _answers(serving.port), "the other processes answer while the dead one is replaced"
    now = _wait_for(lambda: (c := _children_of(serving.pid)) - serving.children and len(c) == 3 and c, 30,
                    "a new serving process")
    assert set(siblings) <= now and victim not in now, "only the dead process was replaced"
    (replacement,) = now - serving.children
    for pid in siblings:
        os.kill(pid, signal.SIGSTOP)
    try:
        assert _wait_for(lambda: _answers(serving.port), 120, "the replacement to answer")
    finally:
        for pid in siblings:
            os.kill(pid, signal.SIGCONT)
    lines = [line for line in serving.log.read_text().splitlines() if line.startswith("mpanel serve:")]
    assert len(lines) == 1 and f"(pid {victim}) was killed by SIGKILL" in lines[0], lines
    assert serving.poll() is None and replacement in _children_of(serving.pid)


def test_stopping_the_parent_stops_every_serving_process(serving):
    children = set(serving.children)
    serving.terminate()

    assert serving.wait(60) == 0
    _wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in children), 30, "the serving processes to end")
    assert not _answers(serving.port)
