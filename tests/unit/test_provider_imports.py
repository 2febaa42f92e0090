"""How providers/ is built and imported.

- The dynamic-provider process imports the provider modules: they must not pull in the app.
- providers/ has four parts: `core/` (the shared base), `rules/` (domain names, DNS record
  content: leaves every layer applies), `clients/` (one per upstream API) and `resources/`
  (the engine's dynamic providers, one per module). The app (services, web, CLI) uses
  clients and rules, never a resource module: those are the stacks' (stacks/program.py).
- No import cycle among providers modules.
"""
from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import providers

CHECKOUT = Path(__file__).resolve().parents[2]
MODULES = sorted(m.name for m in pkgutil.walk_packages(providers.__path__, "providers."))


def test_every_provider_module_is_listed():
    assert {"providers.resources.certificate", "providers.resources.mailbox", "providers.resources.mail_domain",
            "providers.resources.domain_registration", "providers.resources.dns_zone",
            "providers.resources.whm_account", "providers.resources.whm_ssl", "providers.clients.whm",
            "providers.clients.namesilo", "providers.clients.powerdns", "providers.clients.mailcore",
            "providers.clients.acme", "providers.rules.names", "providers.rules.dns_records",
            "providers.core.errors", "providers.core.resource"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_importing_a_provider_module_loads_neither_flask_nor_the_app(module):
    script = (f"import sys, json; import {module}; "
              "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('app', 'flask'))))")
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", script], cwd=CHECKOUT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    # -X importtime lists every module imported, lazily or not, on stderr.
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert not [m for m in imported if m.split(".")[0] in ("app", "flask")]


# --- the parts of providers/ ---------------------------------------------------------------------

RESOURCES = [m for m in MODULES if m.startswith("providers.resources.")]


def _imports(path: str):
    # Read from the source (every import counts, lazy ones too): tests/unit/test_layers.py's reader.
    from tests.unit.test_layers import imports_in_file

    return imports_in_file(path)


def _module_reached(target: str, modules: set[str]) -> str | None:
    """The module an import's target names (`providers.rules.names.bare` -> `providers.rules.names`)."""
    while target:
        if target in modules:
            return target
        target = target.rpartition(".")[0]
    return None


def _path_of(module: str) -> str:
    path = CHECKOUT / Path(*module.split("."))
    return (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).relative_to(CHECKOUT).as_posix()


# The one exception: `mpanel bench providers` times the providers' own create and delete
# (dev tooling, never imported by serve or worker).
BENCHMARKS_THE_PROVIDERS = ("app/devtools/bench/figures.py",)


def test_the_app_imports_no_provider_resource_module():
    """Services call upstream APIs through providers.clients.*; the resources are the stacks' alone."""
    found = [str(imp) for path in sorted(p.relative_to(CHECKOUT).as_posix() for p in CHECKOUT.glob("app/**/*.py"))
             if path not in BENCHMARKS_THE_PROVIDERS
             for imp in _imports(path)
             if imp.target == "providers.resources" or imp.target.startswith("providers.resources.")]
    assert not found, "app/ must import providers.clients/rules/core, never providers.resources:\n  " + \
        "\n  ".join(found)


def test_the_rule_modules_import_nothing_of_the_project_but_each_other():
    rules = [m for m in MODULES if m.startswith("providers.rules")]
    assert {"providers.rules.names", "providers.rules.dns_records"} <= set(rules)
    found = [str(imp) for module in rules for imp in _imports(_path_of(module))
             if imp.target.split(".")[0] in ("app", "providers", "stacks", "sandbox", "tools")
             and not imp.target.startswith("providers.rules.")]
    assert not found, "providers/rules/ are leaves (standard library and third party only):\n  " + "\n  ".join(found)


@pytest.mark.parametrize("module", RESOURCES)
def test_a_resource_module_holds_one_dynamic_provider(module):
    import importlib

    from pulumi.dynamic import ResourceProvider

    loaded = importlib.import_module(module)
    providers_here = [name for name, value in vars(loaded).items()
                      if isinstance(value, type) and issubclass(value, ResourceProvider)
                      and value.__module__ == module]
    assert len(providers_here) == 1, f"{module} defines {len(providers_here)} dynamic providers {providers_here}: " \
                                     "one per module"


def test_every_stored_kind_is_a_resource_module_or_a_core_one():
    from providers import stored

    for kind, path in stored.KINDS.items():
        assert path.startswith(("providers.resources.", "providers.core.")), (kind, path)
        assert stored.implementation(kind).KIND == kind


def test_no_import_cycle_among_provider_modules():
    modules = set(MODULES) | {"providers"}
    graph = {m: sorted({r for imp in _imports(_path_of(m))
                        if (r := _module_reached(imp.target, modules)) not in (None, m, "providers")})
             for m in MODULES}
    cycles, done, path = [], set(), []

    def visit(module: str) -> None:
        if module in path:
            cycles.append(path[path.index(module):] + [module])
            return
        if module in done:
            return
        path.append(module)
        for reached in graph.get(module, ()):
            visit(reached)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert not cycles, "import cycles among providers modules:\n  " + "\n  ".join(" -> ".join(c) for c in cycles)
