"""axe-core, the accessibility checker the browser tests inject into each page (WCAG 2 A/AA).

Installed once with npm into a cache outside the repository (never vendored, never a runtime
dependency): `mpanel setup` calls `ensure()`, and the browser tests find the script with `script()`.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from stacks.install import cache_root

VERSION = "4"  # the major version the tests' rule tags (wcag2a, wcag2aa) are written for


def cache() -> Path:
    return cache_root() / "axe-core"


def script() -> Path:
    return cache() / "node_modules" / "axe-core" / "axe.min.js"


def ensure(log=print) -> Path:
    """Install axe-core unless it is there already; return its script's path."""
    target = script()
    if target.exists():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (this machine kind has Node and npm; elsewhere apt-get install npm): "
                           "the browser tests' axe-core needs it")
    log(f"installing axe-core@{VERSION} into {cache()}")
    cache().mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache()), f"axe-core@{VERSION}"],
                   check=True)
    return target
