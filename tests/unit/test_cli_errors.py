"""`mpanel` commands that meet a stopped server, an unmigrated database or a missing setting
say so in one line, with what to run, and exit non-zero (no servers needed here)."""
from __future__ import annotations

import socket

import psycopg
import pytest

from app import cli
from stacks.engine import EngineMissing


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, f"expected one line, got:\n{err}"
    return err.strip()


@pytest.fixture
def stopped_database(monkeypatch, tmp_path):
    # Every setting a command needs is given (the worker's engine ones too), so the stopped
    # database is what each meets first, with or without local servers ever started here.
    monkeypatch.setenv("MPANEL_STATE_DIR", str(tmp_path))
    stopped = f"postgresql://postgres:secret@127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("DATABASE_URL", f"{stopped}/mpanel")
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"{stopped}/pulumi")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "not-used")


@pytest.mark.parametrize("argv", [["stacks", "list"], ["stacks", "preview", "1"], ["db", "upgrade"],
                                  ["worker", "--concurrency", "2"], ["worker", "--concurrency", "1"]])
def test_a_stopped_database_is_one_line_naming_it_and_how_to_start_it(argv, stopped_database, capsys):
    assert cli.main(argv) == 1
    line = _one_line(capsys)
    assert line.startswith(f"mpanel {argv[0]}: cannot use PostgreSQL at 127.0.0.1:")
    assert "`mpanel services up`" in line
    assert "secret" not in line, "the password stays out of the message"


def test_a_missing_setting_is_named_with_what_to_export(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MPANEL_STATE_DIR", str(tmp_path))  # no local servers' endpoints here
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert cli.main(["stacks", "list"]) == 1
    line = _one_line(capsys)
    assert line == ("mpanel stacks: DATABASE_URL is not set: run `mpanel services up` (the local servers "
                    "provide it) or export DATABASE_URL")


def test_the_worker_names_the_engine_settings_it_lacks(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MPANEL_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/mpanel")
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    assert cli.main(["worker"]) == 1
    assert "PULUMI_BACKEND_URL is not set" in _one_line(capsys)


def _command_raising(monkeypatch, exc: BaseException) -> None:
    monkeypatch.setattr(cli, "preflight", lambda command, settings: None)

    def fails(action, subscription_id, **options):
        raise exc
    monkeypatch.setattr("app.cli.stacks.main", fails)


def test_a_missing_table_met_inside_a_command_says_to_run_db_upgrade(monkeypatch, stopped_database, capsys):
    _command_raising(monkeypatch, psycopg.errors.UndefinedTable('relation "subscriptions" does not exist'))
    assert cli.main(["stacks", "list"]) == 1
    line = _one_line(capsys)
    assert 'relation "subscriptions" does not exist' in line and line.endswith("run `mpanel db upgrade`")


def test_a_known_error_is_found_behind_the_one_that_wraps_it(monkeypatch, capsys):
    try:
        raise EngineMissing("Pulumi CLI not built at /x/pulumi: run `mpanel setup`")
    except EngineMissing as inner:
        wrapped = RuntimeError("converge failed")
        wrapped.__cause__ = inner
    _command_raising(monkeypatch, wrapped)
    assert cli.main(["stacks", "up", "7"]) == 1
    assert _one_line(capsys) == "mpanel stacks: Pulumi CLI not built at /x/pulumi: run `mpanel setup`"


def test_a_bug_still_shows_its_traceback(monkeypatch):
    _command_raising(monkeypatch, ZeroDivisionError("a bug"))
    with pytest.raises(ZeroDivisionError):
        cli.main(["stacks", "list"])
