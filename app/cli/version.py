"""`mpanel version`: the release installed, and in a checkout which commit it runs.

The package version (pyproject.toml, read back through importlib.metadata) names the release
whose upgrade notes apply (CHANGELOG.md); `git describe` tells a checkout between releases apart.
"""
from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]


def package_version() -> str:
    try:
        return metadata.version("mpanel")
    except metadata.PackageNotFoundError:  # run from a tree that was never installed
        return "unknown"


def git_describe(where: Path = CHECKOUT) -> str | None:
    """`git describe --tags --always --dirty` of the checkout, or None outside one."""
    if not (where / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "-C", str(where), "describe", "--tags", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def describe() -> str:
    described = git_describe()
    return f"mpanel {package_version()}" + (f" ({described})" if described else "")
