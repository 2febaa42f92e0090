"""A private state directory (`mktemp -d`: mode 700, owned by root) works: the servers' own users
are let through it by one ACL entry each, it stays closed to everyone else, and the servers run
with their own groups, not root's (issue 22, item 7)."""
from __future__ import annotations

import os
import pwd
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from tools.services import acl
from tools.services.layout import Layout
from tools.services.servers import Postgres, first_closed_directory
from tools.services.supervisor import ServiceError, Supervisor, check_reachable

# Its own ports, beside the suite's (the suite's base + 800: clear of every other offset the tests use),
# below the kernel's ephemeral range (32768-60999), where any client connection could hold one for a moment.
PORT_BASE = int(os.environ["MPANEL_PORT_BASE"]) + 800


def _mpanel(state: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", "services", *args], capture_output=True, text=True,
                          env={**os.environ, "MPANEL_STATE_DIR": str(state), "MPANEL_PORT_BASE": str(PORT_BASE)},
                          timeout=300)


@pytest.fixture
def private_state():
    state = Path(tempfile.mkdtemp(prefix="mpanel-private-"))  # what `mktemp -d` makes: 700, root's
    assert state.stat().st_mode & 0o777 == 0o700
    yield state
    _mpanel(state, "down")
    subprocess.run(["rm", "-rf", str(state)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="the servers run as their own users only when started by root")
def test_postgres_starts_in_a_private_state_dir_which_stays_closed_to_others(private_state):
    layout = Layout(private_state, PORT_BASE)
    supervisor = Supervisor(layout, servers=[Postgres(layout)])
    try:
        supervisor.start(timeout=120)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{layout.port('postgres')}/postgres") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        # Root's group was not kept by the server.
        pid = supervisor.children["postgres"].pid
        status = Path(f"/proc/{pid}/status").read_text()
        groups = next(line for line in status.splitlines() if line.startswith("Groups:")).split()[1:]
        gid = next(line for line in status.splitlines() if line.startswith("Gid:")).split()[1]
        assert gid == str(pwd.getpwnam("postgres").pw_gid) and "0" not in groups
    finally:
        supervisor.stop()
    # Still private: only postgres was let through, and only to traverse.
    assert private_state.stat().st_mode & 0o007 == 0
    assert first_closed_directory(private_state, "postgres") is None
    assert first_closed_directory(private_state, "nobody") == private_state
    named = [(perm, ident) for tag, perm, ident in acl.entries(private_state) if tag == acl.USER]
    assert named == [(acl.TRAVERSE, pwd.getpwnam("postgres").pw_uid)]


@pytest.mark.skipif(os.geteuid() != 0, reason="the servers run as their own users only when started by root")
def test_services_up_works_with_a_private_state_dir(private_state):
    up = _mpanel(private_state, "up")
    assert up.returncode == 0, up.stderr
    status = _mpanel(private_state, "status", "--json")
    assert '"running": true' in status.stdout


def test_a_closed_directory_above_the_state_dir_is_refused_with_the_command_that_opens_it(tmp_path):
    above = tmp_path / "closed"
    above.mkdir()
    above.chmod(0o700)
    with pytest.raises(ServiceError) as caught:
        check_reachable([Postgres(Layout(above / "state", PORT_BASE))])
    message = str(caught.value)
    closed = first_closed_directory(above / "state", "postgres")  # pytest's own 700 directory, or `above`
    assert closed is not None and closed not in (above / "state", *(above / "state").iterdir())
    assert f"cannot enter {closed}" in message and f"chmod o+x {closed}" in message
    assert f"setfacl -m u:postgres:x {closed}" in message and "\n" not in message
