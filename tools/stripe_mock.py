"""Builds stripe-mock (Stripe's own API mock) from its Go module, once per version, into the cache.

stripe-mock answers every request of the Stripe API it embeds the OpenAPI spec of, and
refuses unknown parameters, wrong types and bad enum values as Stripe does: the suite's
contract test (tests/integration/stripe_contract) drives every Stripe request mpanel makes
through it. VERSION is chosen so that its embedded spec is exactly the API version mpanel
pins (app/services/orders/billing.API_VERSION); that spec, read from the Go module cache,
is also what the Stripe stand-in's answers are checked against (sandbox/stripe/schema.py).
Like the Pulumi CLI (tools/pulumi_cli.py) it lives under ~/.cache/mpanel, outside the repo,
and is skipped when present.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from stacks.install import cache_root

MODULE = "github.com/stripe/stripe-mock"
VERSION = "0.203.0"          # embeds Stripe API 2026-08-26.dahlia
API_VERSION = "2026-08-26.dahlia"


def binary_path() -> Path:
    return cache_root() / "stripe-mock" / VERSION / "bin" / "stripe-mock"


def _go_env() -> dict:
    return {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}


def module_dir() -> Path | None:
    """The module's source at VERSION in the Go module cache (there after the build)."""
    try:
        root = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        root = str(Path.home() / "go" / "pkg" / "mod")
    path = Path(root) / "github.com" / "stripe" / f"stripe-mock@v{VERSION}"
    return path if path.is_dir() else None


def spec_path() -> Path | None:
    """Stripe's OpenAPI spec of API_VERSION, as stripe-mock embeds it (about 8 MB: never copied)."""
    folder = module_dir()
    spec = folder / "embedded" / "openapi" / "spec3.json" if folder else None
    return spec if spec and spec.is_file() else None


def build(log=print) -> Path:
    """Build stripe-mock into the cache unless it is there (and its module source, which holds
    the spec, is still in the module cache); return its path."""
    target = binary_path()
    if target.exists() and spec_path() is not None:
        return target
    if not shutil.which("go"):
        raise SystemExit("go is not installed: stripe-mock is built from its Go module")
    target.parent.mkdir(parents=True, exist_ok=True)
    log(f"building stripe-mock v{VERSION} from Go modules (cold: about 3 minutes)...")
    started = time.monotonic()
    # `go install module@version` builds outside any module of ours; GOBIN is a scratch folder
    # so a half-built binary never lands at the cached path.
    with tempfile.TemporaryDirectory(prefix="mpanel-stripe-mock-") as scratch:
        subprocess.run(["go", "install", "-trimpath", "-ldflags", "-s -w", f"{MODULE}@v{VERSION}"],
                       cwd=scratch, env={**_go_env(), "GOBIN": scratch}, check=True)
        shutil.move(str(Path(scratch) / "stripe-mock"), target)
    log(f"built {target} in {time.monotonic() - started:.0f}s")
    return target


if __name__ == "__main__":
    print(build())
