# Two entry points: `make demo` (the main job) and `make test` (lint + test suite).
# Both create .venv with the package installed on first use. `make test-fast` is the edit loop:
# lint and the suite without the tests marked slow (CI runs the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint format

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bottleneck-search search

lint: $(STAMP)
	$(BIN)/ruff format --check bottleneck_search tests bench
	$(BIN)/ruff check bottleneck_search tests bench

format: $(STAMP)
	$(BIN)/ruff format bottleneck_search tests bench
	$(BIN)/ruff check --fix bottleneck_search tests bench

test: lint
	$(BIN)/python -m pytest -q

test-fast: lint
	$(BIN)/python -m pytest -q -m "not slow"
