"""Keeping processes running: backoff, one line per death, the others untouched (no real processes)."""
from __future__ import annotations

import signal

from stacks.keepalive import Backoff, KeepAlive, how_it_ended


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakeProc:
    pids = iter(range(100, 10_000))

    def __init__(self):
        self.pid = next(self.pids)
        self.returncode = None

    def poll(self):
        return self.returncode

    def die(self, code=-signal.SIGKILL):
        self.returncode = code


def test_backoff_doubles_from_one_second_up_to_thirty():
    backoff = Backoff(first=1, cap=30, healthy_after=60)
    assert [backoff.next_delay(ran_for=0.5) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_backoff_is_forgiven_after_a_healthy_run():
    backoff = Backoff(first=1, cap=30, healthy_after=60)
    for _ in range(4):
        backoff.next_delay(ran_for=1)
    assert backoff.next_delay(ran_for=61) == 1
    assert backoff.next_delay(ran_for=1) == 2


def test_how_a_process_ended_is_said_in_words():
    assert how_it_ended(-9) == "was killed by SIGKILL"
    assert how_it_ended(3) == "exited with code 3"


def _keeper():
    clock, lines, spawned = FakeClock(), [], {}

    def spawner(name):
        def spawn():
            proc = FakeProc()
            spawned.setdefault(name, []).append(proc)
            return proc
        return spawn

    keeper = KeepAlive(say=lines.append, clock=clock)
    for name in ("child 1", "child 2"):
        keeper.add(name, spawner(name))
    return keeper, clock, lines, spawned


def test_a_dead_process_is_restarted_after_its_backoff_and_the_others_are_left_alone():
    keeper, clock, lines, spawned = _keeper()
    first, other = spawned["child 1"][0], spawned["child 2"][0]
    clock.now += 5
    first.die()
    assert keeper.check() == []
    assert len(lines) == 1
    assert lines[0] == f"child 1 (pid {first.pid}) was killed by SIGKILL after 5s; restarting in 1s (restart 1)"
    assert "child 1" not in keeper.running and keeper.running["child 2"] is other
    clock.now += 0.5
    assert keeper.check() == [] and len(spawned["child 1"]) == 1
    clock.now += 0.5
    assert keeper.check() == ["child 1"]
    assert keeper.running["child 1"] is spawned["child 1"][1]
    assert spawned["child 2"] == [other], "the other child was never restarted"
    assert len(lines) == 1, "one line per restart"


def test_a_process_that_keeps_dying_young_waits_longer_each_time():
    keeper, clock, lines, spawned = _keeper()
    delays = []
    for _ in range(4):
        spawned["child 1"][-1].die(code=1)
        keeper.check()
        delays.append(keeper.kept["child 1"].restart_at - clock.now)
        clock.now = keeper.kept["child 1"].restart_at
        assert keeper.check() == ["child 1"]
    assert delays == [1, 2, 4, 8]
    assert all("exited with code 1 after 0s" in line for line in lines)


def test_stop_asks_each_process_to_end_with_its_own_signal():
    class Stoppable(FakeProc):
        def send_signal(self, sig):
            self.returncode = -sig

        def wait(self, timeout=None):
            return self.returncode

    keeper = KeepAlive(say=lambda line: None, clock=FakeClock())
    database, web = Stoppable(), Stoppable()
    keeper.add("database", lambda: database, stop_signal=signal.SIGINT)
    keeper.add("web", lambda: web)
    keeper.stop()
    assert (database.returncode, web.returncode) == (-signal.SIGINT, -signal.SIGTERM)
