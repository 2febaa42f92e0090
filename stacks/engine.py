"""The Pulumi engine as this project runs it: the cached CLI, offline, state in PostgreSQL.

Every Automation API workspace is built here so that no run can reach the network
for plugins or update checks, every dynamic provider runs with this venv's Python,
and all stacks share one backend and one passphrase wherever the worker runs.
"""
from __future__ import annotations

import functools
import os
import sys
import tempfile
from pathlib import Path

from pulumi import automation as auto

from app.settings import CHECKOUT, Settings, state_dir
from tools import pulumi_cli

PROJECT = "mpanel"


class EngineMissing(RuntimeError):
    pass


def engine_env(settings: Settings) -> dict[str, str]:
    if not pulumi_cli.cli_path().exists():
        raise EngineMissing(f"Pulumi CLI not built at {pulumi_cli.cli_path()}: run `mpanel setup`")
    home = state_dir() / "pulumi-home"
    home.mkdir(parents=True, exist_ok=True)
    path = [str(pulumi_cli.bin_dir())]
    if pulumi_cli.command_plugin_path().exists():
        path.append(str(pulumi_cli.command_plugin_path().parent))
    return {
        "PATH": os.pathsep.join([*path, os.environ.get("PATH", "")]),
        "PULUMI_HOME": str(home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_PYTHON_CMD": sys.executable,
        "PULUMI_BACKEND_URL": settings.PULUMI_BACKEND_URL,
        "PULUMI_CONFIG_PASSPHRASE": settings.PULUMI_CONFIG_PASSPHRASE,
        # The postgres:// backend (pkg/backend/diy/postgres, 3.260) lists keys on one pooled
        # connection and reads each key's metadata on another, with the pool capped at
        # 2 x GOMAXPROCS; ten parallel listers (the default) then wait on each other forever
        # (`pulumi stack ls` hangs once there are a few dozen stacks). One lister cannot.
        "PULUMI_DIY_BACKEND_PARALLEL": "1",
        # Providers import the project by reference (architecture decision 4).
        "PYTHONPATH": os.pathsep.join(filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")])),
    }


@functools.cache
def pulumi_command() -> auto.PulumiCommand:
    """Built once per process: constructing it runs `pulumi version` to check compatibility."""
    return auto.PulumiCommand(root=str(pulumi_cli.bin_dir().parent))


def workspace_options(settings: Settings, work_dir: str | None = None) -> auto.LocalWorkspaceOptions:
    env = engine_env(settings)
    return auto.LocalWorkspaceOptions(
        work_dir=work_dir or tempfile.mkdtemp(prefix="mpanel-ws-"),
        pulumi_home=env["PULUMI_HOME"],
        env_vars=env,
        secrets_provider="passphrase",
        project_settings=auto.ProjectSettings(
            name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=settings.PULUMI_BACKEND_URL)),
        pulumi_command=pulumi_command(),
    )


def inline_stack(settings: Settings, stack_name: str, program) -> auto.Stack:
    return auto.create_or_select_stack(
        stack_name=stack_name, project_name=PROJECT, program=program, opts=workspace_options(settings))


def cli(settings: Settings, *args: str, cwd: str | Path | None = None):
    """Run the plain CLI against the same backend (what an operator would type)."""
    import subprocess

    return subprocess.run([str(pulumi_cli.cli_path()), *args, "--non-interactive"], env={**os.environ, **engine_env(settings)},
                          capture_output=True, text=True, cwd=cwd or tempfile.gettempdir())
