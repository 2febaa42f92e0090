"""An earlier release, checked out beside this one: its code, this venv, the test's servers."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[3]

# The engine starts dynamic providers through the shared launcher, which runs
# `-m stacks.provider_server` (this release's server). An earlier release ran the SDK's own
# server (`-m pulumi.dynamic`); this module, added to its worktree only, does just that.
SDK_PROVIDER_SERVER = "import pulumi.dynamic.__main__  # the SDK's server: what releases before 0.2.0 ran\n"


@pytest.fixture(scope="session")
def release_worktree(tmp_path_factory):
    """A worktree of the release under `commit`, removed after the session."""
    made: list[Path] = []

    def checkout(commit: str) -> Path:
        where = tmp_path_factory.mktemp(f"release-{commit[:7]}") / "tree"
        subprocess.run(["git", "-C", str(CHECKOUT), "worktree", "add", "--detach", str(where), commit],
                       check=True, capture_output=True, text=True)
        made.append(where)
        server = where / "stacks" / "provider_server.py"
        if not server.exists():
            server.write_text(SDK_PROVIDER_SERVER)
        return where

    yield checkout
    for where in made:
        subprocess.run(["git", "-C", str(CHECKOUT), "worktree", "remove", "--force", str(where)],
                       capture_output=True, text=True)
