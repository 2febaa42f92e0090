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
from dataclasses import dataclass, field
from pathlib import Path

from pulumi import automation as auto

from providers.core.config import ProviderConfig
from stacks import supervision
from stacks.supervision import SupervisedCommand
from stacks import install

PROJECT = "mpanel"
CHECKOUT = Path(__file__).resolve().parents[1]  # providers are imported from here (decision 4)


@dataclass(frozen=True)
class EngineConfig:
    """Everything an engine run needs, built by the caller from its settings."""

    backend_url: str                 # postgres://... (the DIY backend shared by every worker)
    passphrase: str = field(repr=False)
    home: Path                       # PULUMI_HOME: plugins and credentials of this machine
    providers: ProviderConfig = field(default_factory=ProviderConfig, repr=False)


class EngineMissing(RuntimeError):
    pass


def engine_env(config: EngineConfig) -> dict[str, str]:
    if not install.cli_path().exists():
        raise EngineMissing(f"Pulumi CLI not built at {install.cli_path()}: run `mpanel setup`")
    home = config.home
    home.mkdir(parents=True, exist_ok=True)
    install_command_plugin(home)
    return {
        "PATH": os.pathsep.join([str(install.bin_dir()), os.environ.get("PATH", "")]),
        "PULUMI_HOME": str(home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_PYTHON_CMD": sys.executable,
        "PULUMI_BACKEND_URL": config.backend_url,
        "PULUMI_CONFIG_PASSPHRASE": config.passphrase,
        # The dynamic-provider process reads its endpoints and keys from here (providers.core.config).
        **config.providers.to_env(),
        # The postgres:// backend (pkg/backend/diy/postgres, 3.260) lists keys on one pooled
        # connection and reads each key's metadata on another, with the pool capped at
        # 2 x GOMAXPROCS; ten parallel listers (the default) then wait on each other forever
        # (`pulumi stack ls` hangs once there are a few dozen stacks). One lister cannot.
        "PULUMI_DIY_BACKEND_PARALLEL": "1",
        # Every update also copied the whole checkpoint into .pulumi/backups/ (one ~50 KB row per
        # up, refresh or destroy, kept forever, even after the stack is removed), a duplicate of
        # the checkpoint the update's history entry already keeps (`mpanel bench profile`).
        "PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS": "true",
        # The CLI, its language host and the command plugin are short-lived Go processes that
        # garbage-collect a heap they are about to drop: without collection until the heap nears
        # 512 MiB, a subscription's up costs 13% less CPU for 45 MB more at its peak (167 MB;
        # docs/benchmarks.md, session 10).
        "GOGC": "off",
        "GOMEMLIMIT": "512MiB",
        # Providers import the project by reference (architecture decision 4).
        "PYTHONPATH": os.pathsep.join(filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")])),
    }


def install_command_plugin(home: Path) -> str | None:
    """Put the locally built pulumi-resource-command into this PULUMI_HOME's plugin cache, once
    (what `pulumi plugin install` would fetch from the internet): the engine then resolves
    pulumi_command resources at the pinned version, and `pulumi plugin ls` reports it.
    Returns the installed version, or None when the plugin could not be built here."""
    built = install.command_plugin_path()
    if not built.exists():
        return None
    version = install.command_sdk_version()
    if not (home / "plugins" / f"resource-command-v{version}").is_dir():
        import subprocess

        subprocess.run([str(install.cli_path()), "plugin", "install", "resource", "command", version,
                        "--file", str(built)], env={**supervision.inherited_environment(), "PULUMI_HOME": str(home),
                                                      "PULUMI_SKIP_UPDATE_CHECK": "true"},
                       check=True, capture_output=True, text=True)
    return version


@functools.cache
def pulumi_command() -> auto.PulumiCommand:
    """Built once per process: constructing it runs `pulumi version` to check compatibility.
    Every CLI call runs in a process group of its own, with the run's deadline (stacks/supervision.py)."""
    return SupervisedCommand(root=str(install.bin_dir().parent))


def workspace_options(config: EngineConfig, work_dir: str | None = None) -> auto.LocalWorkspaceOptions:
    env = engine_env(config)
    return auto.LocalWorkspaceOptions(
        work_dir=work_dir or tempfile.mkdtemp(prefix="mpanel-ws-"),
        pulumi_home=env["PULUMI_HOME"],
        env_vars=env,
        secrets_provider="passphrase",
        project_settings=auto.ProjectSettings(
            name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=config.backend_url)),
        pulumi_command=pulumi_command(),
    )


def inline_stack(config: EngineConfig, stack_name: str, program) -> auto.Stack:
    return auto.create_or_select_stack(
        stack_name=stack_name, project_name=PROJECT, program=program, opts=workspace_options(config))


def cli(config: EngineConfig, *args: str, cwd: str | Path | None = None):
    """Run the plain CLI against the same backend (what an operator would type)."""
    import subprocess

    return subprocess.run([str(install.cli_path()), *args, "--non-interactive"], env={**supervision.inherited_environment(), **engine_env(config)},
                          capture_output=True, text=True, cwd=cwd or tempfile.gettempdir())
