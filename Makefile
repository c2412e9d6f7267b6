# Two commands matter: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120
export MLFLOW_DISABLE_TELEMETRY ?= true
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install install-dev demo test test-fast bench bench-quick lint clean up down status

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,bench,postgres,boosting,dask]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

## Train on the bundled Adult census data with the embedded engines (local Prefect, sqlite MLflow).
demo: install
	$(BIN)/mleng train configs/adult.yaml

## The whole test suite, slow end-to-end flows included. Two workers (`-n 2`), one test file each
## at a time (`--dist loadfile`, so a module's servers start once): most slow tests wait on
## servers, so the two cores stay busy.
test: install-dev
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=15

## Unit tests only (no Prefect engine, no end-to-end flows).
test-fast: install-dev
	$(BIN)/pytest -q -m "not slow"

## Benchmarks, side by side with the tools users would otherwise pick (tables printed, JSON in bench/results).
bench: install-dev
	$(BIN)/python bench/search.py
	$(BIN)/python bench/bootstrap.py
	$(BIN)/python bench/features.py
	$(BIN)/python bench/online.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/drift.py
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/scale.py

## A smoke run of the benchmarks (minutes: overhead and scale run the real flow).
bench-quick: install-dev
	$(BIN)/python bench/search.py --quick
	$(BIN)/python bench/bootstrap.py --quick
	$(BIN)/python bench/online.py --quick
	$(BIN)/python bench/quality.py --quick
	$(BIN)/python bench/drift.py --quick
	$(BIN)/python bench/overhead.py --quick --repeats 1
	$(BIN)/python bench/scale.py --quick

## The local stack in the background: Prefect (4200), MLflow (5000), a worker, the service (8000) once a champion exists.
up: install
	$(BIN)/mleng stack up

down: install
	$(BIN)/mleng stack down

status: install
	$(BIN)/mleng stack status

lint: install-dev
	$(BIN)/ruff check mleng tasks flows tests bench
	$(BIN)/ruff format --check mleng tasks flows tests bench

clean:
	rm -rf mlflow.db mlartifacts mlruns .pytest_cache predictions.db predictions.db-wal predictions.db-shm
