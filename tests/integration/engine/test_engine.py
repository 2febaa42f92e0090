"""The real Pulumi engine runs here: built from Go modules, offline, state in PostgreSQL."""
from __future__ import annotations

import base64
import json
import secrets
import subprocess

import psycopg
import pulumi

from app.devtools.probe import ProbeFile
from app.services.hosting.engine import engine_config
from stacks import engine
from stacks import install


def test_cached_cli_prints_the_version_of_the_pinned_python_sdk():
    out = subprocess.run([str(install.cli_path()), "version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "v" + install.sdk_version()


def test_every_engine_run_is_offline(settings):
    env = engine.engine_env(engine_config(settings))
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert env["PATH"].split(":")[0] == str(install.bin_dir())


def _stored_checkpoints(settings, stack_name: str) -> list[str]:
    """The stack's files in the postgres:// backend (table pulumi_state), decoded to text."""
    url = settings.PULUMI_BACKEND_URL.replace("postgres://", "postgresql://")
    with psycopg.connect(url) as conn:
        rows = conn.execute("select data from pulumi_state where key like %s and key like %s",
                            ("%/stacks/%", f"%{stack_name}%")).fetchall()
    # The backend stores each blob as {"data": base64(file)}.
    return [base64.b64decode(data["data"]).decode() for (data,) in rows]


def test_up_preview_destroy_of_a_dynamic_provider_resource_in_the_postgres_backend(settings, tmp_path):
    target = tmp_path / "probe.txt"
    secret_value = "s3cret-" + secrets.token_hex(8)
    name = f"engine-{secrets.token_hex(3)}"

    def program():
        probe = ProbeFile("probe", str(target), "hello from the engine")
        pulumi.export("token", probe.token)
        pulumi.export("password", pulumi.Output.secret(secret_value))

    stack = engine.inline_stack(engine_config(settings), name, program)
    try:
        up = stack.up()
        assert up.summary.result == "succeeded"
        assert up.summary.resource_changes == {"create": 2}
        assert target.read_text() == "hello from the engine"
        assert up.outputs["password"].secret and up.outputs["token"].secret

        assert stack.preview().change_summary == {"same": 2}

        listed = engine.cli(engine_config(settings), "stack", "ls", "--all", "--json")
        assert listed.returncode == 0, listed.stderr
        assert name in [s["name"].split("/")[-1] for s in json.loads(listed.stdout)]

        stored = _stored_checkpoints(settings, name)
        assert stored, "the stack's state is not in the postgres:// backend"
        assert not any(secret_value in row for row in stored)
        assert any('"ciphertext"' in row and "mpanel-" + name in row for row in stored)

        down = stack.destroy()
        assert down.summary.resource_changes == {"delete": 2}
        assert not target.exists()
    finally:
        stack.workspace.remove_stack(name, force=True)


def test_a_pulumi_command_resource_runs_through_the_command_plugin(settings, tmp_path):
    assert install.command_plugin_path().exists(), \
        f"pulumi-resource-command was not built: {install.command_plugin_failure()} says why"
    import pulumi_command

    marker = tmp_path / "ran"
    name = f"command-{secrets.token_hex(3)}"

    def program():
        pulumi_command.local.Command("touch", create=f"touch {marker}", delete=f"rm -f {marker}")

    stack = engine.inline_stack(engine_config(settings), name, program)
    try:
        stack.up()
        assert marker.exists()
        assert stack.preview().change_summary == {"same": 2}
        listed = engine.cli(engine_config(settings), "plugin", "ls", "--json")
        assert {"name": "command", "version": install.command_sdk_version()}.items() <= \
            next(p for p in json.loads(listed.stdout) if p["name"] == "command").items()
        stack.destroy()
        assert not marker.exists()
    finally:
        stack.workspace.remove_stack(name, force=True)
