# The README's two commands. Each sets up what is missing first (venv, Debian
# packages, the Pulumi engine built from Go modules and cached in ~/.cache/mpanel).
VENV   := .venv
MPANEL := $(VENV)/bin/mpanel

.PHONY: run test setup

run: setup
	$(MPANEL) run

test: setup
	$(VENV)/bin/pytest

setup: $(VENV)/.installed
	$(MPANEL) setup

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	touch $@
