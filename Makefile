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

test: install lint typecheck ## lint, type-check, unit and integration tests (starts its own broker and PostgreSQL)
	$(BIN)/python -m pytest -q -p no:cacheprovider

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

up: install ## start the embedded broker and PostgreSQL (batchacct stack up)
	$(BIN)/batchacct stack up

down: install ## stop them
	$(BIN)/batchacct stack down

migrate: install ## apply migrations to BATCHACCT_DATABASE_URL
	$(BIN)/batchacct migrate

.PHONY: help install demo test test-unit lint fmt typecheck bench up down migrate
