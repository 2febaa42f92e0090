"""A fresh, unmigrated database: commands say to run `mpanel db upgrade`, then work after it."""
from __future__ import annotations

import secrets

import psycopg
import pytest

from app import cli


@pytest.fixture
def fresh_database(settings, monkeypatch):
    name = f"mpanel_fresh_{secrets.token_hex(4)}"
    with psycopg.connect(settings.DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = settings.DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    from app import db

    if url in db._pools:
        db._pools.pop(url).close()
    with psycopg.connect(settings.DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_commands_on_an_unmigrated_database_say_to_run_db_upgrade(fresh_database, capsys):
    for argv in (["stacks", "list"], ["worker", "--concurrency", "2"], ["serve"]):
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is not migrated" in err, err
        assert err.rstrip().endswith("run `mpanel db upgrade`"), err

    assert cli.main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert cli.main(["stacks", "list"]) == 0
    assert capsys.readouterr().err == ""
