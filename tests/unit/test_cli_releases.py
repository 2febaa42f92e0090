"""`mpanel version` and the arguments of `mpanel stacks migrate`."""
from __future__ import annotations

from importlib import metadata

import pytest

from app import cli
from app.cli import version


def test_version_names_the_installed_release_and_the_checkouts_commit(capsys):
    assert cli.main(["version"]) == 0
    said = capsys.readouterr().out.strip()
    assert said.startswith(f"mpanel {metadata.version('mpanel')}")
    assert version.git_describe() is None or f"({version.git_describe()})" in said


def test_outside_a_checkout_there_is_no_commit_to_name(tmp_path):
    assert version.git_describe(tmp_path) is None


@pytest.mark.parametrize("argv", [["stacks", "migrate", "--dry-run", "sub-4", "5"],
                                  ["stacks", "migrate", "4", "sub-5", "--dry-run"]])
def test_migrate_takes_several_stacks_and_its_options_anywhere(monkeypatch, argv):
    seen = {}
    monkeypatch.setattr(cli, "preflight", lambda command, settings: None)
    monkeypatch.setattr("app.cli.stacks.cmd_migrate",
                        lambda settings, ids, every, dry_run: seen.update(ids=ids, dry_run=dry_run) or 0)
    assert cli.main(argv) == 0
    assert seen == {"ids": [4, 5], "dry_run": True}


def test_other_stack_actions_take_one_id(monkeypatch, capsys):
    monkeypatch.setattr(cli, "preflight", lambda command, settings: None)
    assert cli.main(["stacks", "preview", "4", "5"]) == 2
    with pytest.raises(SystemExit):
        cli.main(["stacks", "list", "--bogus"])
