# The README's two commands. Each sets up what is missing first (venv, Debian
# packages, the Pulumi engine built from Go modules and cached in ~/.cache/mpanel).
VENV   := .venv
MPANEL := $(VENV)/bin/mpanel

.PHONY: run test setup

run: setup
	$(MPANEL) run

# TEST_WORKERS=2 runs test modules in two worker processes, each with a server set of its own
# (tests/conftest.py; at most 3: their ports, 2,000 apart from 26000, stay below the kernel's
# ephemeral range). Not the default yet: in parallel a few tests have failed after the small
# chaos run in the same worker (docs/benchmarks.md, "The test suite"). The slowest ten tests
# are printed at the end of each run.
TEST_WORKERS ?= 0

test: setup
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --durations=10

setup: $(VENV)/.installed
	$(MPANEL) setup

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	touch $@
