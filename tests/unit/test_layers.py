"""Layers import downward (docs/architecture.md, decision 11), checked from the source text.

    app/web -> app/services -> (app/db, app/jobs, app/mail) -> stacks -> providers
    app/settings.py is a leaf; providers know nothing of the app; the sandbox and the
    tools stand beside the app, not inside it: the tools take a few runtime pieces, the
    runtime takes nothing of the tools, and the dev tools (app/devtools) only the CLI loads.

Inside app/services and app/db, the business areas import one way (end of this file):

    operators -> orders -> domains -> hosting -> customers -> common

Nothing of the project is imported here: every file is parsed with `ast`, so the test
needs no server and no working import of the module it judges. Every import counts,
at module level or inside a function (a lazy import is still a dependency), and so do
`if TYPE_CHECKING:` imports. Relative imports are resolved against the file's package.
`from __future__ import ...` is not a dependency. A module named in a string (a
stand-in launched with `python -m sandbox.whm`) is not an import.

A failure names each offending file, line and import statement.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
PROJECT = ("app", "providers", "stacks", "sandbox", "tools")


# --- reading imports out of source -------------------------------------------------------


@dataclass(frozen=True)
class Import:
    path: str       # relative to the checkout, e.g. "app/services/orders/checkout.py"
    line: int
    statement: str  # as written, one name per import: "from ..common import names"
    target: str     # the absolute dotted name it reaches: "sandbox.common.names"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.statement}  (-> {self.target})"


def module_of(path: str) -> str:
    """'app/db/__init__.py' -> 'app.db'; 'app/db/hosting/runs.py' -> 'app.db.hosting.runs'."""
    parts = list(Path(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(path: str) -> str:
    """The package a relative import in this file starts from."""
    module = module_of(path)
    return module if Path(path).name == "__init__.py" else module.rpartition(".")[0]


def imports_in_source(source: str, path: str) -> list[Import]:
    found: list[Import] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(path, node.lineno, f"import {alias.name}", alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.module == "__future__":
                continue
            if node.level:
                package = package_of(path).split(".")
                keep = len(package) - (node.level - 1)
                assert keep > 0, f"{path}:{node.lineno}: relative import climbs above the top-level package"
                base = ".".join(package[:keep])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            written = "." * node.level + (node.module or "")
            for alias in node.names:
                # `from a import b` reaches a.b whether b is a submodule or a name defined in a.
                target = module if alias.name == "*" else f"{module}.{alias.name}"
                found.append(Import(path, node.lineno, f"from {written} import {alias.name}", target))
    return sorted(found, key=lambda i: i.line)  # ast.walk is breadth-first: report in file order


def execute_calls_in_source(source: str, path: str) -> list[Import]:
    """Every `<something>.execute(...)` / `.executemany(...)` call: SQL run by this file."""
    found = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("execute", "executemany")):
            called = ast.get_source_segment(source, node.func) or node.func.attr
            found.append(Import(path, node.lineno, f"{called}(...)", "runs SQL"))
    return sorted(found, key=lambda i: i.line)


def files(*patterns: str) -> list[str]:
    """Project files matching the patterns, as paths relative to the checkout."""
    out: set[str] = set()
    for pattern in patterns:
        out.update(p.relative_to(CHECKOUT).as_posix() for p in CHECKOUT.glob(pattern) if p.is_file())
    return sorted(out)


@lru_cache(maxsize=None)
def imports_in_file(path: str) -> tuple[Import, ...]:
    return tuple(imports_in_source((CHECKOUT / path).read_text(), path))


def imports_of(paths: list[str]) -> list[Import]:
    return [imp for path in paths for imp in imports_in_file(path)]


def reaches(target: str, prefix: str) -> bool:
    return target == prefix or target.startswith(prefix + ".")


def offending_in(found: list[Import], forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[Import]:
    return [imp for imp in found
            if any(reaches(imp.target, f) for f in forbidden) and not any(reaches(imp.target, a) for a in allowed)]


def offending(paths: list[str], forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[Import]:
    return offending_in(imports_of(paths), forbidden, allowed)


def report(what: str, found: list[Import]) -> str:
    return f"{what}; {len(found)} violation(s):\n  " + "\n  ".join(map(str, found))


def everything_but(*excluded: str) -> list[str]:
    """Every project file except the named files and folders ("app/cli/" means the whole folder)."""
    return [p for p in files(*(f"{top}/**/*.py" for top in PROJECT))
            if not any(p.startswith(e) if e.endswith("/") else p == e for e in excluded)]


# --- the reader itself --------------------------------------------------------------------


def test_the_reader_resolves_relative_imports_against_the_files_package():
    source = "from . import tls\nfrom .layout import Layout\nfrom ..common.names import is_hostname\n"
    assert [i.target for i in imports_in_source(source, "sandbox/whm/accounts.py")] == [
        "sandbox.whm.tls", "sandbox.whm.layout.Layout", "sandbox.common.names.is_hostname"]
    assert [i.target for i in imports_in_source("from . import main\n", "sandbox/whm/__init__.py")] == [
        "sandbox.whm.main"]


def test_the_reader_sees_imports_inside_functions_and_ignores_future_and_strings():
    source = ("from __future__ import annotations\n"
              "MODULE = 'app.web'\n"
              "def later():\n"
              "    import app.web.panel\n"
              "    from app import web\n")
    found = imports_in_source(source, "app/db/hosting/runs.py")
    assert [(i.line, i.target) for i in found] == [(4, "app.web.panel"), (5, "app.web")]
    assert [str(i) for i in offending_in(found, ("app.web",))] == [
        "app/db/hosting/runs.py:4: import app.web.panel  (-> app.web.panel)",
        "app/db/hosting/runs.py:5: from app import web  (-> app.web)"]


def test_the_reader_finds_execute_calls_on_any_object():
    source = "def f(conn):\n    conn.execute('select 1')\n    db.cursor().executemany('x', [])\n    run()\n"
    assert [i.line for i in execute_calls_in_source(source, "app/web/panel.py")] == [2, 3]


@pytest.mark.parametrize("folder", ["app/web", "app/services", "app/db", "app/jobs", "app/mail", "app/cli",
                                    "providers", "stacks", "sandbox", "tools"])
def test_every_layer_the_rules_name_has_source_files(folder):
    """Guards the rules below against passing because a glob matched nothing."""
    assert files(f"{folder}/**/*.py"), f"no Python files under {folder}/: the layer rules would pass vacuously"


def test_the_files_the_rules_name_exist():
    for path in ("app/settings.py", "app/__init__.py", "app/jobs/tasks.py", "providers/rules/names.py",
                 "tools/pulumi_cli.py"):
        assert (CHECKOUT / path).is_file(), f"{path} is gone: update tests/unit/test_layers.py with the new home"


# --- the layers ---------------------------------------------------------------------------


def test_settings_is_a_leaf_that_imports_nothing_of_the_project():
    found = offending(["app/settings.py"], PROJECT)
    assert not found, report("app/settings.py must import nothing of the project", found)


def test_providers_import_nothing_but_providers_and_third_party_code():
    found = offending(files("providers/**/*.py"), ("app", "stacks", "sandbox", "tools"))
    assert not found, report("providers/** must not import app, stacks, sandbox or tools", found)


def test_stacks_import_neither_the_app_nor_the_sandbox():
    found = offending(files("stacks/**/*.py"), ("app", "sandbox"))
    assert not found, report("stacks/** must not import app or sandbox", found)


def test_only_the_stacks_read_the_engine_text():
    """The engine's output (provider errors' trailers, the CLI's stderr) is decoded at the engine
    boundary (stacks/outcome.py); the app reads typed outcomes, never the text."""
    engine_text = ("providers.core.errors.errors_in", "stacks.recovery")
    made_up = imports_in_source("from providers.core.errors import ProviderError, errors_in\n", "app/x.py")
    assert [i.target for i in offending_in(made_up, engine_text)] == ["providers.core.errors.errors_in"]
    found = offending(files("app/**/*.py"), engine_text)
    assert not found, report("app/** must not decode engine text (use stacks.outcome's typed outcomes)", found)


def test_the_sandbox_imports_neither_the_app_nor_the_stacks():
    found = offending(files("sandbox/**/*.py"), ("app", "stacks"))
    assert not found, report("sandbox/** must not import app or stacks", found)


def test_the_sandbox_takes_from_providers_only_the_domain_name_rules():
    found = offending(files("sandbox/**/*.py"), ("providers",), allowed=("providers.rules.names",))
    assert not found, report("sandbox/** may import providers.rules.names (the one domain-name rule module) "
                             "and nothing else of providers", found)


# What the setup tooling may take from the runtime, all at the bottom of the layers (never the
# app; and the runtime never imports tools: see the end of this file): where the engine is
# installed with the one-line refusal every command prints, and the process keeper.
TOOLS_TAKE = ("stacks.install", "stacks.keepalive")


def test_tools_import_of_the_runtime_only_the_install_paths_the_refusal_and_the_keeper():
    # Tools launch the stand-ins by module name in a string (python -m sandbox.whm): not an import.
    found = offending(files("tools/**/*.py"), ("app", "stacks", "providers", "sandbox"), allowed=TOOLS_TAKE)
    assert not found, report(f"tools/** may import of app, stacks, providers and sandbox only {TOOLS_TAKE}", found)


def test_db_jobs_and_mail_import_neither_the_web_nor_the_services():
    below = files("app/db/**/*.py", "app/jobs/**/*.py", "app/mail/**/*.py")
    found = offending(below, ("app.web", "app.services"))
    # Deliberate: app/jobs/tasks.py is the queue's task list, and a task's whole body is a
    # service call (issue 8: "tasks call services, no SQL of their own"). It may import
    # app.services, never app.web.
    found = [i for i in found if not (i.path == "app/jobs/tasks.py" and reaches(i.target, "app.services"))]
    assert not found, report("app/db, app/jobs and app/mail must not import app.web or app.services "
                             "(only app/jobs/tasks.py may import app.services)", found)


def test_nothing_below_the_web_imports_the_web():
    # Above or beside the web, and so exempt: app/web itself, app/__init__.py (the Flask
    # factory that registers the blueprints) and app/cli (entry points, e.g. `mpanel serve`).
    found = offending(everything_but("app/web/", "app/cli/", "app/__init__.py"), ("app.web",))
    assert not found, report("only app/web, app/cli and app/__init__.py may import app.web", found)


def test_services_import_neither_the_web_nor_the_cli():
    found = offending(files("app/services/**/*.py"), ("app.web", "app.cli"))
    assert not found, report("app/services/** must not import app.web or app.cli", found)


def test_only_the_cli_and_the_app_package_import_the_cli():
    # Tests may import app.cli too; they live outside the folders read here.
    found = offending(everything_but("app/cli/", "app/__init__.py"), ("app.cli",))
    assert not found, report("only app/cli/**, app/__init__.py and tests may import app.cli", found)


def test_queue_tasks_run_no_sql_of_their_own():
    found = execute_calls_in_source((CHECKOUT / "app/jobs/tasks.py").read_text(), "app/jobs/tasks.py")
    assert not found, report("app/jobs/tasks.py must not run SQL (tasks call services)", found)


def test_views_run_no_sql():
    found = [c for path in files("app/web/**/*.py")
             for c in execute_calls_in_source((CHECKOUT / path).read_text(), path)]
    assert not found, report("app/web/** must not run SQL (views stay thin and call services)", found)


# --- the business areas inside the services and their SQL ---------------------------------
#
# app/services/ and app/db/ are grouped in packages by business area, under the same names.
# An area imports only areas to its right (its own area too, of course), services and SQL
# alike: a service of `orders` may read `app.db.hosting.subscriptions`, a service of `hosting`
# may not read `app.db.orders.plans`. What stands above the areas (app/services/sweeps.py and
# retention.py, with their SQL app/db/sweeps.py and retention.py) may import every area; no
# area imports it. Outside its own area, a module of an area is imported only when the area's
# `PUBLIC` (in its `__init__.py`, which imports nothing) names it. Tests are not held to PUBLIC.

AREAS = ("operators", "orders", "domains", "hosting", "customers", "common")
AREA_LAYERS = ("app/services", "app/db")
ABOVE_THE_AREAS = ("app.services.sweeps", "app.services.retention", "app.db.sweeps", "app.db.retention")


@dataclass(frozen=True)
class Place:
    layer: str   # "app.services" or "app.db"
    area: str    # one of AREAS
    module: str  # the module inside the area ("checkout"), "" for the package itself


def place_of(dotted: str) -> Place | None:
    """Where a module (or a name imported from it) sits among the areas; None outside them."""
    parts = dotted.split(".")
    if len(parts) < 3 or ".".join(parts[:2]) not in ("app.services", "app.db") or parts[2] not in AREAS:
        return None
    return Place(".".join(parts[:2]), parts[2], parts[3] if len(parts) > 3 else "")


def area_packages() -> list[str]:
    """Every package directly under app/services/ and app/db/ (migrations is data, not a package)."""
    return sorted(p.parent.relative_to(CHECKOUT).as_posix()
                  for layer in AREA_LAYERS for p in (CHECKOUT / layer).glob("*/__init__.py"))


def public_of(package: str) -> tuple[str, ...]:
    """The PUBLIC tuple of an area package (app/services/orders), read from its source, never imported."""
    tree = ast.parse((CHECKOUT / package / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["PUBLIC"]:
            value = ast.literal_eval(node.value)
            assert isinstance(value, tuple) and all(isinstance(m, str) for m in value), (
                f"{package}/__init__.py: PUBLIC must be a tuple of module names")
            return value
    raise AssertionError(f"{package}/__init__.py declares no PUBLIC = (...): name the modules other areas may import")


def upward_imports(found: list[Import], layer: str) -> list[Import]:
    """Imports of `layer` (app.services or app.db) made from inside an area that reach an area on its
    left, or what stands above the areas."""
    out = []
    for imp in found:
        source, target = place_of(module_of(imp.path)), place_of(imp.target)
        if source is None or not reaches(imp.target, layer):
            continue
        if target is None:
            if any(reaches(imp.target, above) for above in ABOVE_THE_AREAS):
                out.append(imp)
        elif AREAS.index(target.area) < AREAS.index(source.area):
            out.append(imp)
    return out


def area_cycles(found: list[Import]) -> list[list[str]]:
    """Cycles in the graph of areas (services and SQL of one name count as one area), ignoring AREAS' order."""
    edges: dict[str, set[str]] = {area: set() for area in AREAS}
    for imp in found:
        source, target = place_of(module_of(imp.path)), place_of(imp.target)
        if source and target and source.area != target.area:
            edges[source.area].add(target.area)
    cycles, done = [], set()

    def visit(area: str, path: list[str]) -> None:
        for nxt in sorted(edges[area]):
            if nxt in path:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, path + [nxt])
        done.add(area)

    for area in AREAS:
        if area not in done:
            visit(area, [area])
    return cycles


def imports_past_public(found: list[Import], public: dict[str, tuple[str, ...]]) -> list[Import]:
    """Imports of an area's module from outside the area when the area's PUBLIC does not name it.
    `public` maps a package ("app.services.orders") to its PUBLIC."""
    out = []
    for imp in found:
        source, target = place_of(module_of(imp.path)), place_of(imp.target)
        if target is None or (source is not None and source.area == target.area):
            continue
        if target.module not in public[f"{target.layer}.{target.area}"]:
            out.append(imp)
    return out


def area_rule_report(what: str, found: list[Import]) -> str:
    return report(what + f" (the order: {' -> '.join(AREAS)})", found)


def test_the_area_rules_see_upward_imports_cycles_and_private_modules():
    """The three area rules judge made-up sources, so a rule that cannot fail is caught here."""
    upward = imports_in_source("def f():\n    from app.services.orders import lifecycle\n",
                               "app/services/hosting/converge.py")
    assert [i.line for i in upward_imports(upward, "app.services")] == [2]
    downward = imports_in_source("from app.services.hosting import engine\nfrom app.db.hosting import runs\n"
                                 "from app.services.orders.billing import client\n",
                                 "app/services/operators/console.py")
    assert upward_imports(downward, "app.services") == [] and upward_imports(downward, "app.db") == []
    sql_upward = imports_in_source("from app.db.orders import plans\nfrom app.db import sweeps\n",
                                   "app/services/hosting/specs.py")
    assert [i.line for i in upward_imports(sql_upward, "app.db")] == [1, 2]
    loop = (imports_in_source("from app.services.customers import accounts\n", "app/services/hosting/a.py")
            + imports_in_source("from app.db.hosting import runs\n", "app/services/customers/b.py"))
    assert area_cycles(loop) == [["hosting", "customers", "hosting"]]
    public = {"app.services.orders": ("checkout",), "app.db.orders": ()}
    reads = imports_in_source("from app.services.orders import checkout, lifecycle\nfrom app.db.orders import plans\n",
                              "app/web/marketing.py")
    assert [i.target for i in imports_past_public(reads, public)] == [
        "app.services.orders.lifecycle", "app.db.orders.plans"]
    inside = imports_in_source("from app.services.orders import lifecycle\nfrom app.db.orders import plans\n",
                               "app/services/orders/checkout.py")
    assert imports_past_public(inside, public) == []


def test_the_area_packages_are_the_declared_areas():
    found = {package: package.rpartition("/")[2] for package in area_packages()}
    unknown = sorted(package for package, area in found.items() if area not in AREAS)
    assert not unknown, (f"{unknown}: a package under app/services or app/db that is not an area: "
                         f"add it to AREAS in its place in the order, or move its modules into an area")
    missing = sorted(set(AREAS) - {area for package, area in found.items() if package.startswith("app/services/")})
    assert not missing, f"AREAS names {missing}, which app/services/ lacks: the rules would pass vacuously"


@pytest.mark.parametrize("package", area_packages())
def test_an_area_package_names_its_public_modules_and_imports_nothing(package):
    found = imports_in_file(f"{package}/__init__.py")
    assert not found, report(f"{package}/__init__.py must import nothing (it only names PUBLIC): "
                             "a re-export would start import cycles between areas", list(found))
    absent = [m for m in public_of(package) if not (CHECKOUT / package / f"{m}.py").is_file()]
    assert not absent, f"{package}/__init__.py: PUBLIC names {absent}, which are not modules of {package}/"


def test_service_areas_import_only_areas_to_their_right():
    found = upward_imports(imports_of(files("app/services/**/*.py")), "app.services")
    assert not found, area_rule_report("an area of app/services imports an area on its left", found)


def test_a_service_takes_its_sql_from_its_own_area_or_one_to_its_right():
    found = upward_imports(imports_of(files("app/services/**/*.py", "app/db/**/*.py")), "app.db")
    assert not found, area_rule_report("a module of an area imports the SQL of an area on its left "
                                       "(or of the sweeps and retention, which stand above the areas)", found)


def test_no_cycle_between_areas():
    cycles = area_cycles(imports_of(files("app/services/**/*.py", "app/db/**/*.py")))
    assert not cycles, "areas import each other in a loop: " + "; ".join(" -> ".join(c) for c in cycles)


def test_other_areas_and_layers_import_only_an_areas_public_modules():
    public = {package.replace("/", "."): public_of(package) for package in area_packages()}
    found = imports_past_public(imports_of(everything_but()), public)
    assert not found, report("a module of an area imported from outside it is missing from the area's PUBLIC "
                             "(add it there if it is meant to be used outside, or import what PUBLIC offers)",
                             found)


# --- dev tools apart, and the runtime free of the setup tooling (issue 21, item 6) ---------

# The `mpanel` subcommands that ARE setup (install, start the local servers, supervise them
# under `mpanel run`): they may load the tooling, inside their own handler and nowhere else.
SETUP_HANDLERS = {"app/cli/__init__.py": ("cmd_setup", "cmd_services", "cmd_run", "_ServerDeaths")}


def top_level_owner(source: str, path: str, line: int) -> str | None:
    """The module-level function or class whose body holds `line`; None at module level."""
    for node in ast.parse(source, filename=path).body:
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and node.lineno <= line <= node.end_lineno):
            return node.name
    return None


def owner_of(imp: Import) -> str | None:
    return top_level_owner((CHECKOUT / imp.path).read_text(), imp.path, imp.line)


def test_the_reader_names_the_function_or_class_that_holds_an_import():
    source = ("import os\n"
              "def cmd_setup(args):\n"
              "    from tools import debian\n"
              "class Deaths:\n"
              "    def report(self):\n"
              "        import tools.services\n")
    assert [(i.target, top_level_owner(source, "app/cli/x.py", i.line))
            for i in imports_in_source(source, "app/cli/x.py")] == [
        ("os", None), ("tools.debian", "cmd_setup"), ("tools.services", "Deaths")]


def test_the_runtime_imports_nothing_of_the_setup_tooling_but_in_the_setup_commands():
    for path, names in SETUP_HANDLERS.items():
        defined = {node.name for node in ast.parse((CHECKOUT / path).read_text()).body if hasattr(node, "name")}
        assert set(names) <= defined, f"{path} no longer defines {set(names) - defined}: update SETUP_HANDLERS"
    runtime = [p for p in files("app/**/*.py", "stacks/**/*.py", "providers/**/*.py")
               if not p.startswith("app/devtools/")]
    found = [imp for imp in offending(runtime, ("tools",))
             if owner_of(imp) not in SETUP_HANDLERS.get(imp.path, ())]
    assert not found, report("app (but app/devtools), stacks and providers must not import tools; only the "
                             f"setup commands' handlers may, inside the handler: {SETUP_HANDLERS}", found)


def test_only_the_cli_and_the_dev_tools_themselves_import_the_dev_tools():
    # Tests import them too (they live outside the folders read here).
    found = offending(everything_but("app/devtools/", "app/cli/"), ("app.devtools",))
    assert not found, report("only app/cli/** and app/devtools/** may import app.devtools", found)


def test_the_cli_imports_the_dev_tools_only_inside_the_handler_that_runs_them():
    # At module level, building the parser (or `mpanel serve`, `mpanel worker`) would load them.
    found = [imp for imp in offending(files("app/cli/**/*.py"), ("app.devtools",)) if owner_of(imp) is None]
    assert not found, report("app/cli/** may import app.devtools only inside a function", found)
