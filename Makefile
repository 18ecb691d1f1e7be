# GarminSync: `make demo` runs the archive against the bundled simulator,
# `make test` runs the test suite. Both create the virtualenv they need.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= $(shell scripts/find-python.sh)

.PHONY: venv demo test test-fast lint format up down clean bench help

help:
	@echo "make demo    archive the simulator's activities on the embedded default (SQLite, no Redis)"
	@echo "make test    run the test suite (starts redis-server, PostgreSQL, Chromium as needed)"
	@echo "make lint    ruff + mypy"
	@echo "make up      run redis-server, workers, beat and the dashboard natively (no Docker)"
	@echo "make bench   run the benchmarks in bench/ (see docs/BENCHMARKS.md)"

$(VENV)/.installed: pyproject.toml
	@if [ -z "$(PYTHON)" ]; then scripts/find-python.sh >/dev/null; exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) scripts/demo.py

test: venv
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=25

test-fast: venv
	$(PY) -m pytest -q -m "not integration and not browser and not docker"

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

up: venv
	$(PY) scripts/up.py

bench: venv
	$(PY) -m bench

clean:
	rm -rf $(VENV) demo-data .pytest_cache .mypy_cache .ruff_cache test-output
