"""Where the Pulumi engine this project runs is installed: the cache of built binaries.

`mpanel setup` builds the CLI and pulumi-resource-command into these paths (tools/pulumi_cli.py)
and the engine runs them from here; both take the paths from this one leaf module, so the
runtime never imports the setup tooling. Each binary is built at exactly the version of its
pinned Python SDK, under ~/.cache/mpanel (MPANEL_CACHE_DIR moves it), shared by every
checkout, CI run and later session on the machine.
"""
from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path


def sdk_version() -> str:
    return version("pulumi")


def command_sdk_version() -> str:
    return version("pulumi-command")


def cache_root() -> Path:
    return Path(os.environ.get("MPANEL_CACHE_DIR") or Path.home() / ".cache" / "mpanel")


def bin_dir() -> Path:
    return cache_root() / "pulumi" / sdk_version() / "bin"


def cli_path() -> Path:
    return bin_dir() / "pulumi"


def command_plugin_path() -> Path:
    return cache_root() / "pulumi-command" / command_sdk_version() / "bin" / "pulumi-resource-command"


def command_plugin_failure() -> Path:
    """Why pulumi-resource-command could not be built, written by setup and read by `mpanel doctor`."""
    return command_plugin_path().with_name("BUILD-FAILED.txt")


class CannotRun(RuntimeError):
    """What a command found missing before it started: one line, with what to run.

    Here, at the bottom of the layers, so that the setup tooling's own refusals (tools/services:
    ServiceError, ServerCannotStart) can be CannotRun without importing the app, and `mpanel`
    prints them as the one line they are without loading the setup tooling."""
