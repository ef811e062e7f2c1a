# Tessera developer commands. On a fresh clone only Python 3.11+, pip and make are needed:
#
#   make run     create .venv, install, start the embedded PostgreSQL + Redis (unless
#                TESSERA_DATABASE_URL / TESSERA_REDIS_URL are set), migrate, seed the demo
#                tenants, serve web + worker on http://localhost:8000
#   make test    the whole test suite (real PostgreSQL and Redis, embedded by default)
#   make lint    ruff check + ruff format --check + the import contract
#   make stop    stop the embedded PostgreSQL and Redis
#
# Variables: PORT=8001 (or TESSERA_PORT), PYTEST_ARGS="-k hosts -x", PYTHON=python3.12,
# VENV=.venv.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
VENV_PY := $(VENV)/bin/python
STAMP := $(VENV)/.tessera-installed
EXTRAS ?= embedded,dev
PYTEST_ARGS ?=
PORT ?=

# The newest python3.x >= 3.11 on PATH. A recursive variable: only evaluated when the
# venv has to be created. Each candidate is run, not just found (pyenv shims may exist
# for versions that are not installed).
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3.11 python3; do \
	  if command -v $$p >/dev/null 2>&1 && \
	     $$p -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then \
	    echo $$p; break; fi; done)

# Embedded servers for whichever URL is unset (core/cli.py load_settings starts them).
ifeq ($(strip $(TESSERA_DATABASE_URL)),)
  EMBEDDED := 1
else ifeq ($(strip $(TESSERA_REDIS_URL)),)
  EMBEDDED := 1
else
  EMBEDDED := 0
endif
TESSERA := TESSERA_EMBEDDED=$${TESSERA_EMBEDDED:-$(EMBEDDED)} $(VENV_PY) -m core.cli

.PHONY: help install venv run test lint imports format stop clean distclean screenshots bench

help:
	@sed -n '1,12p' Makefile | sed 's/^# \{0,1\}//'

# -- environment -------------------------------------------------------------------

$(VENV_PY):
	@if [ -z "$(PYTHON)" ]; then \
	  echo "make: no Python 3.11 or newer found on PATH (tried python3.14 ... python3.11, python3);"; \
	  echo "      install one, or name it: make PYTHON=/path/to/python3.12 $(MAKECMDGOALS)"; \
	  exit 1; fi
	@echo "creating $(VENV) with $$($(PYTHON) -c 'import sys; print(sys.executable, sys.version.split()[0])')"
	@$(PYTHON) -m venv $(VENV) || { \
	  rm -rf $(VENV); \
	  echo "make: '$(PYTHON) -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv"; \
	  exit 1; }

# Re-install only when pyproject.toml changed (or the venv is new).
$(STAMP): pyproject.toml | $(VENV_PY)
	@echo "installing tessera-emr[$(EXTRAS)] into $(VENV)"
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@# the distribution was called "tessera" until 0.1.0: an old editable install of that
	@# name (or its tessera.egg-info in the checkout, which is on sys.path when commands run
	@# from here) would register the first-party plugins' entry points twice
	@if $(VENV_PY) -m pip show --quiet tessera >/dev/null 2>&1; then \
	  $(VENV_PY) -m pip uninstall --quiet --disable-pip-version-check -y tessera; fi
	@rm -rf tessera.egg-info
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	@touch $(STAMP)

venv: $(VENV_PY)

install: $(STAMP)

# -- the two commands --------------------------------------------------------------

run: $(STAMP)
	$(TESSERA) dev run $(if $(PORT),--port $(PORT))

test: $(STAMP)
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

# -- the rest ------------------------------------------------------------------------

lint: $(STAMP)
	$(VENV_PY) -m ruff check .
	$(VENV_PY) -m ruff format --check .
	$(MAKE) --no-print-directory imports

# core imports no plugin; a plugin imports only core.plugin_api (scripts/import_contract.py)
IMPORT_ROOT ?= .
imports:
	$(VENV_PY) scripts/import_contract.py $(IMPORT_ROOT)

format: $(STAMP)
	$(VENV_PY) -m ruff check --fix .
	$(VENV_PY) -m ruff format .

# docs/screenshots/*.png from the demo clinics (scripts/screenshots.py; needs Chromium)
screenshots: $(STAMP)
	TESSERA_EMBEDDED=$${TESSERA_EMBEDDED:-$(EMBEDDED)} $(VENV_PY) scripts/screenshots.py

# benchmarks (docs/benchmarks.md): quick by default, `make bench FULL=1` for 1 M patients.
# Uses TESSERA_DATABASE_URL's server (default 127.0.0.1:5432) and Redis db 9 at 127.0.0.1.
bench: $(STAMP)
	$(VENV_PY) -m bench.run $(if $(FULL),--full) $(BENCH_ARGS)

stop:
	@if [ -x $(VENV_PY) ]; then $(VENV_PY) -m core.cli dev stop; \
	 else echo "no $(VENV), so nothing embedded was started"; fi

# Caches and build output; the venv and the data folder stay.
clean:
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info
	find . -path ./$(VENV) -prune -o -path ./.tessera-data -prune -o \
	  -type d -name __pycache__ -exec rm -rf {} +

# Everything make created: stops the embedded servers, removes .venv and .tessera-data.
distclean: stop clean
	rm -rf $(VENV) .tessera-data
