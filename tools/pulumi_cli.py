"""Builds the Pulumi engine from Go modules, once per version, into a cache outside the repo.

No prebuilt Pulumi binary can be downloaded on these machines, so the CLI is built
from github.com/pulumi/pulumi/pkg/v3/cmd/pulumi through the wrapper module in
tools/pulumi-cli (see its go.mod for why a wrapper), at exactly the version of the
pinned `pulumi` Python package, and stamped with that version so the Automation API
accepts it. Where the binaries go is the engine's to say (stacks/install.py): the runtime
reads those paths and never imports this module.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stacks.install import cli_path, command_plugin_failure, command_plugin_path, command_sdk_version, sdk_version

WRAPPER = Path(__file__).with_name("pulumi-cli")

LAUNCHER = """#!/bin/sh
# Started by the Pulumi engine for Python dynamic providers (pulumi-python:dynamic:Resource).
# Runs them with the interpreter of the process that drives the engine, so the providers
# package installed in that venv is imported by reference (never frozen into state), through
# the project's provider server (stacks/provider_server.py: the SDK's, resolving stored names).
exec "${PULUMI_PYTHON_CMD:?PULUMI_PYTHON_CMD must name the project venv python}" -u -m stacks.provider_server "$@"
"""


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


def command_plugin_source() -> Path | None:
    """The pulumi-command provider's Go source at the pinned version: MPANEL_PULUMI_COMMAND_SRC,
    else the copy of tag v<version> shipped beside the checkout (../shared/vendor). The Go module
    proxy does not serve this nested module, so it cannot be built from the proxy alone."""
    configured = os.environ.get("MPANEL_PULUMI_COMMAND_SRC")
    candidates = [Path(configured)] if configured else [
        Path(__file__).resolve().parents[2] / "shared" / "vendor" / f"pulumi-command-{command_sdk_version()}" / "provider"]
    return next((c for c in candidates if (c / "go.mod").is_file()), None)


def build_command_plugin(log=print) -> Path | None:
    """Build pulumi-resource-command at the pinned SDK's version into the cache; its Go
    dependencies come from the module proxy. Returns None, and records why in
    BUILD-FAILED.txt (which `mpanel doctor` reports), when there is no source to build from
    or the build fails; the attempt is repeated when that file is removed or the source appears."""
    target = command_plugin_path()
    if target.exists():
        return target
    failure = command_plugin_failure()
    source = command_plugin_source()
    if source is None:
        failure.parent.mkdir(parents=True, exist_ok=True)
        failure.write_text(
            f"no source for pulumi-resource-command {command_sdk_version()}: set MPANEL_PULUMI_COMMAND_SRC to the "
            f"provider/ folder of github.com/pulumi/pulumi-command at tag v{command_sdk_version()} (the Go module "
            "proxy does not serve that nested module), or on a machine with internet access run "
            f"`pulumi plugin install resource command {command_sdk_version()}`\n")
        log(f"pulumi-resource-command: no source to build from; see {failure}")
        return None
    if failure.exists() and failure.read_text().startswith("go build"):
        return None  # a real build failure is not retried on every setup: remove the file to retry
    ver = command_sdk_version()
    log(f"building pulumi-resource-command v{ver} from {source} (cold: about 2-3 minutes on 2 cores)...")
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Third-party source is built in a copy: nothing is written into it (go.sum updates, caches).
    with tempfile.TemporaryDirectory(prefix="mpanel-command-build-") as build:
        shutil.copytree(source, Path(build) / "provider")
        tmp = target.with_suffix(".partial")
        result = subprocess.run(
            ["go", "build", "-trimpath", "-o", str(tmp), "-ldflags",
             f"-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version={ver}",
             "./cmd/pulumi-resource-command"],
            cwd=Path(build) / "provider", env=_go_env(), capture_output=True, text=True)
    if result.returncode != 0:
        failure.write_text(f"go build in a copy of {source} failed:\n{result.stderr}")
        log(f"pulumi-resource-command could not be built; see {failure}")
        return None
    tmp.replace(target)
    failure.unlink(missing_ok=True)
    log(f"built {target} in {time.monotonic() - started:.0f}s")
    return target


if __name__ == "__main__":
    print(build_cli())
    print(build_command_plugin() or "pulumi-resource-command: unavailable", file=sys.stderr)
