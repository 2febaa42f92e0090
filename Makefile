# The README's two commands. Each sets up what is missing first (venv, Debian
# packages, the Pulumi engine built from Go modules and cached in ~/.cache/mpanel).
VENV   := .venv
MPANEL := $(VENV)/bin/mpanel

.PHONY: run test setup

run: setup
	$(MPANEL) run

# Test modules run in parallel worker processes, each with a server set of its own
# (tests/conftest.py): one more than the cores (much of a test is waiting on a server), at most
# 3 (their ports, 2,000 apart from 26000, stay below the kernel's ephemeral range). The slowest
# ten tests are printed at the end of each run.
TEST_WORKERS ?= $(shell n=$$(( $$(nproc) + 1 )); echo $$(( n < 3 ? n : 3 )))

test: setup
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --durations=10

setup: $(VENV)/.installed
	$(MPANEL) setup

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	touch $@
