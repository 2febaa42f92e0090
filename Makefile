# The README's two commands. Each sets up what is missing first (venv, Debian
# packages, the Pulumi engine built from Go modules and cached in ~/.cache/mpanel).
VENV   := .venv
MPANEL := $(VENV)/bin/mpanel

.PHONY: run test setup

run: setup
	$(MPANEL) run

# Test modules run in two worker processes, each with a server set of its own (tests/conftest.py;
# TEST_WORKERS=0 runs one process, at most 3 workers: their ports, 2,000 apart from 26000, stay
# below the kernel's ephemeral range). Files are handed out in collection order
# (--no-loadscope-reorder, not biggest first): the e2e package comes first, so each worker starts
# its e2e app and job worker once, and the many small unit modules come last and even out the end
# (docs/benchmarks.md, "The test suite"). The slowest ten tests are printed at the end of each run.
TEST_WORKERS ?= 2

test: setup
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=10

setup: $(VENV)/.installed
	$(MPANEL) setup

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	touch $@
