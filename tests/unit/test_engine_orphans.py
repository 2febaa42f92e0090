"""No process outlives the engine run that started it (issue 28): a plugin the Pulumi CLI put in
a process group of its own (as pulumi does for every plugin) is killed when the CLI is
SIGKILLed mid-run, instead of living on reparented to init."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pytest

from stacks import orphans
from stacks.supervision import SupervisedCommand


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_a_plugin_in_its_own_process_group_dies_with_its_sigkilled_cli(tmp_path):
    plugin_pids = tmp_path / "plugin.pid"
    # The CLI starts a "plugin" in a group of its own, then is SIGKILLed (as `mpanel chaos` does).
    cli = tmp_path / "pulumi"
    cli.write_text(f"""#!{sys.executable}
import os, signal, subprocess, sys
plugin = subprocess.Popen(["sleep", "300"], process_group=0, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # pulumi pipes them to itself
open({str(plugin_pids)!r}, "w").write(str(plugin.pid))
os.kill(os.getpid(), signal.SIGKILL)
""")
    cli.chmod(cli.stat().st_mode | stat.S_IEXEC)
    command = SupervisedCommand.__new__(SupervisedCommand)
    command.command = str(cli)

    with pytest.raises(Exception):
        command.run(["up"], cwd=str(tmp_path), additional_env={})

    plugin = int(plugin_pids.read_text())
    give_up = time.monotonic() + 10
    while _alive(plugin) and time.monotonic() < give_up:
        time.sleep(0.05)
    assert not _alive(plugin), "the plugin outlived its CLI"


def test_processes_marked_by_a_worker_that_is_gone_are_killed_by_the_next_run():
    dead_worker = subprocess.Popen(["true"])
    dead_worker.wait()
    left = subprocess.Popen(["sleep", "300"], env={**os.environ, orphans.MARK: f"{dead_worker.pid}-abc"},
                            start_new_session=True)
    mine = subprocess.Popen(["sleep", "300"], env={**os.environ, orphans.MARK: f"{os.getpid()}-other-run"})
    try:
        killed = orphans.kill_left_behind(orphans.new_mark())
        assert left.pid in killed and mine.pid not in killed  # another live run of this worker is left alone
        assert left.wait(10) == -9
    finally:
        mine.kill()
        mine.wait()
        left.kill()
