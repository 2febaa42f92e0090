# The README's two commands. Each sets up what is missing first (venv, Debian
# packages, the Pulumi engine built from Go modules and cached in ~/.cache/mpanel).
VENV   := .venv
MPANEL := $(VENV)/bin/mpanel

.PHONY: run test setup

run: setup
	$(MPANEL) run

# Test modules run in parallel, one worker process per core, each worker with a server set of
# its own (tests/conftest.py); the slowest ten tests are printed at the end of each run.
TEST_WORKERS ?= $(shell n=$$(nproc); echo $$(( n < 4 ? n : 4 )))

test: setup
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --durations=10

setup: $(VENV)/.installed
	$(MPANEL) setup

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	touch $@
