"""A state directory the local servers' users cannot enter is found before anything starts."""
from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import pytest

from tools.services.layout import Layout
from tools.services.servers import Postgres, first_closed_directory
from tools.services.supervisor import ServiceError, check_reachable

POSTGRES = pwd.getpwnam("postgres")


def _stat_of(tree: dict[str, tuple[int, int]]):
    """A fake os.stat over {path: (mode, owner uid)}; group root."""
    def stat_of(path: Path):
        if str(path) not in tree:
            raise FileNotFoundError(path)
        mode, uid = tree[str(path)]
        return os.stat_result((stat.S_IFDIR | mode, 0, 0, 2, uid, 0, 0, 0, 0, 0))
    return stat_of


def test_the_first_directory_the_user_cannot_enter_is_named():
    tree = {"/": (0o755, 0), "/tmp": (0o1777, 0), "/tmp/tmp.abc": (0o700, 0), "/tmp/tmp.abc/postgres": (0o700, 0)}
    found = first_closed_directory(Path("/tmp/tmp.abc/postgres/data"), "postgres", stat_of=_stat_of(tree))
    assert found == Path("/tmp/tmp.abc")


def test_a_directory_the_user_owns_needs_only_the_owner_bit():
    tree = {"/": (0o755, 0), "/srv": (0o700, POSTGRES.pw_uid)}
    assert first_closed_directory(Path("/srv"), "postgres", stat_of=_stat_of(tree)) is None


def test_directories_not_made_yet_are_not_in_the_way():
    tree = {"/": (0o755, 0), "/srv": (0o755, 0)}
    assert first_closed_directory(Path("/srv/state/postgres"), "postgres", stat_of=_stat_of(tree)) is None


def test_root_enters_everything():
    tree = {"/": (0o700, 1234)}
    assert first_closed_directory(Path("/"), "root", stat_of=_stat_of(tree)) is None


def test_a_state_dir_made_by_mktemp_is_refused_in_one_line_saying_what_to_run(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    state.chmod(0o700)
    with pytest.raises(ServiceError) as caught:
        check_reachable([Postgres(Layout(state, 31900))])
    message = str(caught.value)
    assert "\n" not in message
    closed = first_closed_directory(state / "postgres", "postgres")
    assert closed in (state, *state.parents)
    assert f"cannot enter {closed}" in message and f"chmod o+x {closed}" in message
    assert "MPANEL_STATE_DIR" in message
