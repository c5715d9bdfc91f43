# crm-dedup: `make run` (demo data, then the API on it) and `make test` are all a new machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DB     ?= var/demo.duckdb
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install run demo-amocrm test lint format bench models mlflow-ui widget clean

install: $(STAMP)

# The browser tests drive Debian's chromium (Playwright's own download needs the internet). The PostgreSQL
# store's tests start their own throwaway server from Debian's postgresql (its binaries are in
# /usr/lib/postgresql/<version>/bin, not on PATH).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(STAMP): pyproject.toml
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq postgresql; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: install                      ## demo data -> import -> scan -> API key, then serve it on $(HOST):$(PORT) (Ctrl-C stops)
	$(BIN)/crm-dedup demo --db $(DB) --host $(HOST) --port $(PORT)
	$(BIN)/crm-dedup serve --db $(DB) --host $(HOST) --port $(PORT)

demo-amocrm: install              ## the service against a local amoCRM stand-in: install, import, new duplicates tagged (Ctrl-C stops)
	$(BIN)/python -m amocrm.demo --db var/demo-amocrm.duckdb --port $(PORT)

test: install                     ## lint, types and the whole test suite (browser tests in Debian's chromium)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/python -m mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install                    ## accuracy, speed, memory and hardening numbers (prints; never fails on them)
	$(BIN)/python bench/bench_core.py
	$(BIN)/python bench/bench_heldout.py
	$(BIN)/python bench/bench_speed.py
	$(BIN)/python bench/bench_normalize.py
	$(BIN)/python bench/bench_incremental.py
	$(BIN)/python bench/bench_api.py
	$(BIN)/python bench/bench_check.py
	$(BIN)/python bench/bench_learning.py
	$(BIN)/python bench/bench_hardening.py
	$(BIN)/python bench/bench_postgres.py
	$(BIN)/python bench/bench_amocrm.py
	$(BIN)/python bench/bench_outside.py
	$(BIN)/python bench/bench_widget.py
	$(BIN)/python bench/bench_fuzz.py --minutes 10

models: install                   ## retrain the shipped default models on generated data
	$(BIN)/python -m training.default_models

widget:                           ## the amoCRM widget archive: dist/crm-dedup-widget.zip (standard library only)
	$(PYTHON) widget/build.py --out dist/crm-dedup-widget.zip

MLFLOW_URI  ?= sqlite:///var/mlflow.db
MLFLOW_HOST ?= 127.0.0.1
MLFLOW_PORT ?= 5000
# Logins (MLflow's basic-auth app): var/mlflow-auth.ini is written once; the admin password comes from
# CRM_DEDUP_MLFLOW_ADMIN_PASSWORD, else it is generated once into var/mlflow-admin-password (0600).
mlflow-ui: install                ## the MLflow UI with a login per account (runs, versions, threshold tags); loopback unless MLFLOW_HOST
	$(BIN)/python -m training.mlflow_access ui --tracking-uri $(MLFLOW_URI) --host $(MLFLOW_HOST) --port $(MLFLOW_PORT)

clean:
	rm -rf var dist .pytest_cache
