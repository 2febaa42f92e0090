"""Configuration is read in one place, and jobs are asked for by name, checked from the source text.

- No module under app/ but app/settings.py reads the environment (os.environ, os.getenv):
  everything else takes a Settings (or one of settings.py's small functions). Writing the
  environment for a child process (`os.environ[...] = `, setdefault, update) is not a read.
- Outside app/jobs nothing enqueues by string: no raw defer (`defer_in`, `_defer`, a task's
  `.defer()`, procrastinate's SQL), no task name written as a string, no queueing lock
  spelled by hand. Services call app/jobs/defer.py's `request_*` functions, the only place
  task names, queues and locks are spelled (besides the periodic tasks' own decorators).

The dev tools (app/devtools: bench, chaos, demo, fuzz, probe) are exempt: they poke at
a running system from outside, as an operator's shell would.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
DEV_TOOLS = "app/devtools/"
# Reads that are not configuration, each with its reason.
ENVIRONMENT_READS_ALLOWED = {
    # `mpanel servers add --whm-token-env NAME`: the operator names the variable holding a secret
    # so it stays out of `ps` and shell history; it is input to one command, not configuration.
    "app/cli/servers.py",
}
WRITES = {"setdefault", "update", "pop", "clear", "__setitem__", "__delitem__"}


def app_files(*, but: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in sorted(CHECKOUT.glob("app/**/*.py")):
        rel = path.relative_to(CHECKOUT).as_posix()
        if rel.startswith(DEV_TOOLS) or any(rel.startswith(b) for b in but):
            continue
        found.append(rel)
    return found


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def environment_reads(source: str, path: str) -> list[str]:
    """'path:line: code' for every read of the process environment."""
    tree = ast.parse(source, filename=path)
    parent = _parents(tree)
    from_os = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "os"
               for a in n.names if a.name in ("environ", "getenv", "environb")}
    found = []
    for node in ast.walk(tree):
        is_environ = (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                      and node.value.id == "os" and node.attr in ("environ", "environb", "getenv")) \
            or (isinstance(node, ast.Name) and node.id in from_os)
        if not is_environ:
            continue
        up = parent.get(node)
        if isinstance(up, ast.Subscript) and isinstance(up.ctx, (ast.Store, ast.Del)):
            continue  # os.environ[NAME] = value: for this process's children
        if isinstance(up, ast.Attribute) and up.attr in WRITES:
            continue
        found.append(f"{path}:{node.lineno}: {ast.get_source_segment(source, up or node)}")
    return found


def _job_spellings() -> tuple[set[str], tuple[str, ...]]:
    """(every task name, every lock prefix) as app/jobs spells them."""
    names: set[str] = set()
    prefixes: set[str] = set()
    for path in ("app/jobs/defer.py", "app/jobs/tasks.py"):
        tree = ast.parse((CHECKOUT / path).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Job":
                names.add(node.args[0].value)
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "task":
                names.update(k.value.value for k in node.keywords
                             if k.arg == "name" and isinstance(k.value, ast.Constant))
            elif isinstance(node, ast.JoinedStr) and path.endswith("defer.py"):
                first = node.values[0]
                if isinstance(first, ast.Constant) and first.value.endswith("-"):
                    prefixes.add(first.value)
    return names, tuple(sorted(prefixes))


def raw_enqueues(source: str, path: str, task_names: set[str], lock_prefixes: tuple[str, ...]) -> list[str]:
    """'path:line: code' for every job asked for other than through a request function."""
    tree = ast.parse(source, filename=path)
    found = []

    def add(node: ast.AST, why: str) -> None:
        found.append(f"{path}:{node.lineno}: {ast.get_source_segment(source, node)}  ({why})")

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(a.name in ("defer_in", "_defer") for a in node.names):
            add(node, "a raw defer")
        elif isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if called in ("defer_in", "_defer", "defer", "defer_async", "configure_task"):
                add(node, "a raw defer")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in task_names:
                add(node, "a task named by string")
            elif "procrastinate_defer_jobs" in node.value:
                add(node, "procrastinate's defer SQL")
        elif isinstance(node, ast.JoinedStr) and path.startswith(("app/services/", "app/web/", "app/mail/")):
            first = node.values[0] if node.values else None
            if isinstance(first, ast.Constant) and first.value in lock_prefixes:
                add(node, "a lock spelled by hand")
    return found


# --- the rules ----------------------------------------------------------------------------------


def test_only_settings_reads_the_environment():
    found = [r for path in app_files() if path != "app/settings.py" and path not in ENVIRONMENT_READS_ALLOWED
             for r in environment_reads((CHECKOUT / path).read_text(), path)]
    assert not found, "only app/settings.py may read the environment (add a Settings field or a function " \
                      "there):\n" + "\n".join(found)


def test_nothing_outside_app_jobs_enqueues_by_string():
    names, prefixes = _job_spellings()
    found = [r for path in app_files(but=("app/jobs/",))
             for r in raw_enqueues((CHECKOUT / path).read_text(), path, names, prefixes)]
    assert not found, "ask for jobs through app/jobs/defer.py's request_* functions:\n" + "\n".join(found)


def test_the_spellings_are_found():
    """Guards the rule above against passing because nothing was read."""
    names, prefixes = _job_spellings()
    assert {"converge_subscription", "send_attention_alert", "process_stripe_event", "remove_old_records"} <= names
    assert {"attention-", "drift-", "evt-", "sub-", "welcome-"} <= set(prefixes)
    assert len(app_files()) > 50


# --- the readers, judged on made-up sources ------------------------------------------------------


@pytest.mark.parametrize("source", [
    "import os\nx = os.environ.get('A')\n",
    "import os\nx = os.environ['A']\n",
    "import os\nx = os.getenv('A', '1')\n",
    "import os\nx = 'A' in os.environ\n",
    "from os import environ\nx = environ.get('A')\n",
    "from os import getenv as g\nx = g('A')\n",
])
def test_the_reader_finds_environment_reads(source):
    assert environment_reads(source, "app/x.py")


@pytest.mark.parametrize("source", [
    "import os\nos.environ['A'] = '1'\n",
    "import os\nos.environ.setdefault('A', '1')\n",
    "import os\nos.environ.update(A='1')\n",
    "import os\ndel os.environ['A']\n",
    "environ = {}\nx = environ.get('A')\n",
])
def test_the_reader_lets_writes_and_lookalikes_pass(source):
    assert not environment_reads(source, "app/x.py")


@pytest.mark.parametrize("source", [
    "from app.jobs.defer import defer_in\n",
    "def f(conn):\n    defer_in(conn, 'x', 'mail', {})\n",
    "def f(conn, sid):\n    conn.execute('x', ('send_attention_alert', sid))\n",
    "def f(sid):\n    return f'attention-{sid}'\n",
    "def f(t):\n    t.defer(subscription_id=1)\n",
    "SQL = 'SELECT procrastinate_defer_jobs_v1(ARRAY[])'\n",
])
def test_the_reader_finds_raw_enqueues(source):
    assert raw_enqueues(source, "app/services/x.py", {"send_attention_alert"}, ("attention-",))


def test_the_reader_lets_request_functions_pass():
    source = ("from app.jobs.defer import request_attention_alert\n"
              "def f(conn, sid):\n    request_attention_alert(conn, sid)\n    return f'sub {sid} attention'\n")
    assert not raw_enqueues(source, "app/services/x.py", {"send_attention_alert"}, ("attention-",))
