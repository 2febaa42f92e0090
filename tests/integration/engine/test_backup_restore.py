"""`mpanel backup` then `mpanel restore` into new, empty databases (another name on the same
PostgreSQL) bring a fresh install back to the same stacks: a preview of a restored stack,
through the restored Pulumi state, app database and mail core, changes nothing."""
from __future__ import annotations

import dataclasses
import json
import secrets

import psycopg

from app import cli
from tests.factories import make_subscription


def _database(url: str, name: str) -> str:
    head, _, tail = url.rpartition("/")
    _, q, query = tail.partition("?")
    return f"{head}/{name}{q}{query}"


def test_a_restored_install_previews_no_changes_for_its_stack(settings, db_conn, tmp_path, monkeypatch, capsys):
    from app.services.hosting.converge import Converger
    from app.services.hosting.engine import stack_operations
    from app.services.hosting.specs import build_spec
    from app import db

    sid = make_subscription(db_conn, settings)
    assert Converger(settings).converge(sid)

    assert cli.main(["backup", "--dir", str(tmp_path), "--keep", "1"]) == 0
    said = capsys.readouterr().out
    assert "PULUMI_CONFIG_PASSPHRASE" in said and "MPANEL_ENCRYPTION_KEY" in said and "ACME" in said
    assert cli.main(["backup", "--dir", str(tmp_path), "--keep", "1"]) == 0  # keeps one
    [made] = [p for p in tmp_path.iterdir() if p.name.startswith("mpanel-")]
    assert set(json.loads((made / "manifest.json").read_text())["databases"]) == {
        "app.dump", "pulumi-state.dump", "mailcore.dump"}

    suffix = secrets.token_hex(3)
    names = {setting: f"{prefix}_restored_{suffix}" for setting, prefix in (
        ("DATABASE_URL", "mpanel"), ("PULUMI_BACKEND_URL", "pulumi"), ("MAILCORE_DATABASE_URL", "mailcore"))}
    for name in names.values():
        db_conn.execute(f'CREATE DATABASE "{name}"')
    try:
        for setting, name in names.items():
            monkeypatch.setenv(setting, _database(getattr(settings, setting), name))
        assert cli.main(["restore", str(made)]) == 0, capsys.readouterr().err
        assert cli.main(["restore", str(made)]) == 1  # never over a database with tables
        assert "not empty" in capsys.readouterr().err

        restored = dataclasses.replace(settings, **{s: _database(getattr(settings, s), n) for s, n in names.items()})
        with db.transaction(restored.DATABASE_URL) as conn:
            spec = build_spec(conn, sid, restored)
        preview = stack_operations(restored).preview(spec)
        assert set(preview.change_summary) == {"same"}, preview.change_summary
    finally:
        for name in names.values():
            db_conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
