# batchacct — `make demo` and `make test` set up everything they need from a fresh clone.
SHELL := /bin/bash
UV_VERSION := 0.13.8
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# No lock file is committed (it would name the package index's hosts); versions that matter are
# pinned in the pyproject files, and uv resolves the rest on a fresh machine.
$(VENV)/.synced: $(UV) pyproject.toml libs/batchacct/pyproject.toml $(wildcard services/*/pyproject.toml)
	$(UV) sync --quiet
	@touch $@

install: $(VENV)/.synced ## create .venv with every package (uv workspace)

demo: install ## a synthetic site (20,000 jobs) through the whole pipeline on the embedded stack
	$(BIN)/batchacct demo $(if $(JOBS),--jobs $(JOBS))

test: install chromium lint typecheck ## lint, type-check, unit and integration tests (starts its own broker and PostgreSQL)
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The dashboard's browser test drives Debian's chromium (Playwright never downloads a browser).
APT_INSTALL_CHROMIUM := apt-get install -y --no-install-recommends chromium
chromium: ## install Debian's chromium for the dashboard test, when missing (root or sudo)
	@if command -v chromium >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then run=""; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then run="sudo -n"; \
	else echo "chromium is missing and installing it needs root or password-less sudo:" \
	  "run '$(APT_INSTALL_CHROMIUM)' as root" >&2; exit 1; fi; \
	echo "installing chromium (apt-get, about 100 MB)"; \
	$$run env DEBIAN_FRONTEND=noninteractive $(APT_INSTALL_CHROMIUM) >/dev/null || \
	  { $$run apt-get update -q >/dev/null && \
	    $$run env DEBIAN_FRONTEND=noninteractive $(APT_INSTALL_CHROMIUM) >/dev/null; } || \
	  { echo "could not install chromium ($(APT_INSTALL_CHROMIUM))" >&2; exit 1; }; \
	command -v chromium >/dev/null || { echo "chromium installed but not on PATH" >&2; exit 1; }

test-unit: install ## unit tests only (no broker, no database)
	$(BIN)/python -m pytest -q tests/unit

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install ## mypy (strict)
	$(BIN)/mypy

bench: install ## speed and memory figures, printed and written to bench-results.json
	$(BIN)/python -m benchmarks.bench_parsers
	$(BIN)/python -m benchmarks.bench_parser_slurm
	$(BIN)/python -m benchmarks.bench_parser_pbs_sge
	$(BIN)/python -m benchmarks.bench_parser_condor
	$(BIN)/python -m benchmarks.bench_history_dir
	$(BIN)/python -m benchmarks.bench_pipeline
	$(BIN)/python -m benchmarks.bench_backfill
	$(BIN)/python -m benchmarks.bench_collector_memory
	$(BIN)/python -m benchmarks.bench_join_history
	$(BIN)/python -m benchmarks.bench_summaries
	$(BIN)/python -m benchmarks.bench_renormalise
	$(BIN)/python -m benchmarks.bench_publisher
	$(BIN)/python -m benchmarks.bench_api_load

up: install ## start the embedded broker and PostgreSQL (batchacct stack up)
	$(BIN)/batchacct stack up

down: install ## stop them
	$(BIN)/batchacct stack down

migrate: install ## apply migrations to BATCHACCT_DATABASE_URL
	$(BIN)/batchacct migrate

.PHONY: help install chromium demo test test-unit lint fmt typecheck bench up down migrate
