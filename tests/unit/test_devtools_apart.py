"""`mpanel serve` and `mpanel worker` load neither the dev tools (app/devtools) nor the setup
tooling (tools/): checked in a fresh interpreter, by what is in `sys.modules` once the parser
is built and the serve and worker entry points have imported what they run.

tests/unit/test_layers.py reads the same rule from the source; this one catches what reading
cannot see (an import made by a package's __init__, a plugin, an import path given as a string).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]

# Runs in the fresh interpreter. The handlers' own imports are read from their source, so a new
# lazy import in `cmd_serve`, `cmd_worker`, the worker or a task body is followed here too.
LOAD_SERVE_AND_WORKER = r'''
import ast, importlib, json, sys
from pathlib import Path


def imported_by(path, function=None):
    """Each module an import statement of this file (or of one of its functions) reaches."""
    tree = ast.parse(Path(path).read_text())
    if function:
        tree = next(node for node in tree.body if getattr(node, "name", None) == function)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
            assert not node.level, f"{path}: relative import, not followed here"
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):  # a submodule: `from app.cli import worker`
                    yield f"{node.module}.{alias.name}"
            yield node.module


def load(names):
    for name in names:
        importlib.import_module(name)


import app.cli

app.cli.parser()  # every subcommand's arguments, the dev tools' included
load(imported_by("app/cli/__init__.py", "cmd_serve"))
from app import create_app

create_app(open_queue=False)  # every blueprint, view and service that `serve` serves
load(imported_by("app/cli/__init__.py", "cmd_worker"))
load(imported_by("app/cli/worker.py"))

import app.jobs.tasks  # noqa: F401  (the task list, as the configured queue imports it)
load(imported_by("app/jobs/tasks.py"))  # the services the task bodies call
print(json.dumps(sorted(sys.modules)))
'''


def modules_loaded_by_serve_and_worker() -> list[str]:
    out = subprocess.run([sys.executable, "-c", LOAD_SERVE_AND_WORKER], cwd=CHECKOUT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_serve_and_worker_load_neither_the_dev_tools_nor_the_setup_tooling():
    loaded = modules_loaded_by_serve_and_worker()
    # Guards against passing because nothing was loaded.
    assert {"app.cli.worker", "app.jobs.tasks", "app.web.panel", "stacks.engine"} <= set(loaded)
    apart = [m for m in loaded if m in ("app.devtools", "tools") or m.startswith(("app.devtools.", "tools."))]
    assert not apart, f"serve or worker loaded {apart}: import them inside the handler that needs them"
