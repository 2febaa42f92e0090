"""Tools that exercise the running system: bench, chaos, fuzz, demo and the engine probe.

They drive the app, the engine and the local servers from outside, the way an operator or
an attacker would, and none of it is needed to serve or to converge: `mpanel serve` and
`mpanel worker` never import this package (tests/unit/test_devtools_apart.py). The `mpanel`
command offers each tool and imports it only when that subcommand runs (app/cli/__init__.py).
"""
