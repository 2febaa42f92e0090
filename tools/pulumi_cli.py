"""Builds the Pulumi engine from Go modules, once per version, into a cache outside the repo.

No prebuilt Pulumi binary can be downloaded on these machines, so the CLI is built
from github.com/pulumi/pulumi/pkg/v3/cmd/pulumi through the wrapper module in
tools/pulumi-cli (see its go.mod for why a wrapper), at exactly the version of the
pinned `pulumi` Python package, and stamped with that version so the Automation API
accepts it. The cache is ~/.cache/mpanel/pulumi/<version>/bin (MPANEL_CACHE_DIR
moves it), shared by every checkout, CI run and later session on the machine.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

WRAPPER = Path(__file__).with_name("pulumi-cli")
COMMAND_PLUGIN_MODULE = "github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command"

LAUNCHER = """#!/bin/sh
# Started by the Pulumi engine for Python dynamic providers (pulumi-python:dynamic:Resource).
# Runs them with the interpreter of the process that drives the engine, so the providers
# package installed in that venv is imported by reference (never frozen into state).
exec "${PULUMI_PYTHON_CMD:?PULUMI_PYTHON_CMD must name the project venv python}" -u -m pulumi.dynamic "$@"
"""


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
    return command_plugin_path().with_name("BUILD-FAILED.txt")


def _go_env() -> dict:
    return {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}


def build_cli(log=print) -> Path:
    """Build the CLI into the cache unless it is there already; return its path."""
    target = cli_path()
    want = sdk_version()
    pinned = re.search(r"github.com/pulumi/pulumi/pkg/v3 v(\S+)", (WRAPPER / "go.mod").read_text()).group(1)
    if pinned != want:
        raise SystemExit(f"tools/pulumi-cli/go.mod builds pulumi {pinned} but the venv has pulumi {want}: "
                         f"update both require lines to v{want}")
    if not target.exists():
        if not shutil.which("go"):
            raise SystemExit("go is not installed: the Pulumi CLI is built from Go modules")
        target.parent.mkdir(parents=True, exist_ok=True)
        log(f"building the Pulumi CLI v{want} from Go modules (cold: about 4-5 minutes on 2 cores)...")
        started = time.monotonic()
        tmp = target.with_suffix(".partial")
        subprocess.run(
            ["go", "build", "-trimpath", "-ldflags",
             f"-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v{want}",
             "-o", str(tmp), "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"],
            cwd=WRAPPER, env=_go_env(), check=True,
        )
        tmp.replace(target)
        log(f"built {target} in {time.monotonic() - started:.0f}s")
    launcher = target.with_name("pulumi-resource-pulumi-python")
    if not launcher.exists() or launcher.read_text() != LAUNCHER:
        launcher.write_text(LAUNCHER)
        launcher.chmod(0o755)
    return target


def build_command_plugin(log=print) -> Path | None:
    """Try to build pulumi-resource-command at the pinned SDK's version.

    Returns None (and records why in BUILD-FAILED.txt) when the Go module proxy will
    not serve the module: the attempt is repeated only when that file is removed.
    """
    target = command_plugin_path()
    if target.exists():
        return target
    failure = command_plugin_failure()
    if failure.exists():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    ver = command_sdk_version()
    log(f"building pulumi-resource-command v{ver} from Go modules...")
    env = {**_go_env(), "GOBIN": str(target.parent), "GOFLAGS": ""}
    result = subprocess.run(
        ["go", "install", "-ldflags", f"-X github.com/pulumi/pulumi-command/provider/pkg/version.Version=v{ver}",
         f"{COMMAND_PLUGIN_MODULE}@v{ver}"],
        env=env, capture_output=True, text=True,
    )
    if result.returncode != 0:
        # Say why in the words of the proxy: the nested provider module is what is refused.
        probe = subprocess.run(["go", "mod", "download", "-json", f"github.com/pulumi/pulumi-command/provider@v{ver}"],
                               env=env, capture_output=True, text=True, cwd=WRAPPER)
        failure.write_text(result.stderr + probe.stdout + probe.stderr)
        log(f"pulumi-resource-command could not be built; see {failure}")
        return None
    return target


if __name__ == "__main__":
    print(build_cli())
    print(build_command_plugin() or "pulumi-resource-command: unavailable", file=sys.stderr)
