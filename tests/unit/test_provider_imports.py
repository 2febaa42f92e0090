"""The dynamic-provider process imports the provider modules: they must not pull in the app."""
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
    assert {"providers.acme", "providers.mailbox", "providers.namesilo", "providers.powerdns",
            "providers.whm", "providers.core.errors", "providers.core.resource"} <= set(MODULES)


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
