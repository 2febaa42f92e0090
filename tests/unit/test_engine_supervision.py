"""Every CLI call in a process group of its own (stacks/supervision.py): killed whole at the
run's deadline, and gone with the worker that started it. Checked with a stand-in `pulumi`
(a shell script that starts a "plugin" and hangs), real processes, real signals."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from stacks import supervision

VERSION = 'if [ "$1" = version ]; then echo v3.200.0; exit 0; fi\n'  # asked once, when built
HANGING_CLI = """#!/bin/sh
""" + VERSION + """echo started
sleep 300 &   # a provider plugin the CLI started
sleep 300
"""


@pytest.fixture
def hanging(tmp_path):
    (tmp_path / "bin").mkdir()
    cli = tmp_path / "bin" / "pulumi"
    cli.write_text(HANGING_CLI)
    cli.chmod(0o755)
    return supervision.SupervisedCommand(root=str(tmp_path), skip_version_check=True)


def _wait_empty(pgid: int, seconds: float = 5) -> list[int]:
    give_up = time.monotonic() + seconds
    while (left := supervision.group_members(pgid)) and time.monotonic() < give_up:
        time.sleep(0.05)
    return left


def test_a_call_past_its_deadline_has_its_whole_group_killed(hanging, tmp_path):
    lines = []
    started = time.monotonic()
    with supervision.deadline(1.0), pytest.raises(supervision.EngineRunTimedOut) as raised:
        hanging.run(["up"], str(tmp_path), {}, on_output=lines.append)
    assert 1.0 <= time.monotonic() - started < 5
    assert lines == ["started"]
    [pgid] = raised.value.process_groups
    assert _wait_empty(pgid) == []  # the CLI and its plugin
    assert "timed out after 1 s" in str(raised.value)


def test_a_call_that_ends_in_time_answers_as_the_sdk_does(tmp_path):
    (tmp_path / "bin").mkdir()
    cli = tmp_path / "bin" / "pulumi"
    cli.write_text("#!/bin/sh\n" + VERSION + "echo \"args: $*\"\necho oops >&2\nexit ${FAIL:-0}\n")
    cli.chmod(0o755)
    command = supervision.SupervisedCommand(root=str(tmp_path), skip_version_check=True)
    with supervision.deadline(10):
        assert command.run(["stack", "ls"], str(tmp_path), {}).stdout == "args: --non-interactive stack ls"
        with pytest.raises(Exception) as failed:
            command.run(["up"], str(tmp_path), {"FAIL": "3"})
    assert "oops" in str(failed.value) and not isinstance(failed.value, supervision.EngineRunTimedOut)


def test_the_group_dies_with_the_worker_that_started_it(tmp_path):
    """A worker SIGKILLed mid-run must leave no engine behind to go on changing the stack."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "pulumi").write_text(HANGING_CLI)
    (tmp_path / "bin" / "pulumi").chmod(0o755)
    worker = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, sys
        from stacks import supervision
        command = supervision.SupervisedCommand(root={str(tmp_path)!r}, skip_version_check=True)
        orig = supervision.subprocess.Popen
        class Reporting(orig):
            def __init__(self, *a, **k):
                super().__init__(*a, **k)
                print(self.pid, flush=True)  # the leader: its pid is the CLI's process group
        supervision.subprocess.Popen = Reporting
        command.run(["up"], {str(tmp_path)!r}, {{}})
    """)], stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    pgid = int(worker.stdout.readline())
    give_up = time.monotonic() + 10
    while len(supervision.group_members(pgid)) < 3 and time.monotonic() < give_up:  # sh, CLI, plugin
        time.sleep(0.05)
    assert len(supervision.group_members(pgid)) >= 3
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert _wait_empty(pgid) == []


def test_fencing_kills_every_running_group(hanging, tmp_path):
    import threading

    failures = []

    def run():
        try:
            hanging.run(["up"], str(tmp_path), {})
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            failures.append(exc)
    thread = threading.Thread(target=run)
    thread.start()
    give_up = time.monotonic() + 10
    while not supervision._groups and time.monotonic() < give_up:
        time.sleep(0.05)
    [pgid] = supervision.fence("lost the heartbeat")
    thread.join(10)
    assert isinstance(failures[0], supervision.EngineFenced) and "lost the heartbeat" in str(failures[0])
    assert _wait_empty(pgid) == []
