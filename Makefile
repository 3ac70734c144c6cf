# Two entry points: `make demo` (the main job) and `make test` (lint + test suite).
# Both create .venv on first use: `make demo` with the package alone, `make test` adds the test
# extras, ONNX and the other backends. `make test-fast` is the edit loop:
# lint and the suite without the tests marked slow (CI runs the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test
# The other Keras backends the suite runs its backend-independent core on (tests/backend_core.py).
# PyTorch as its CPU build, which this project's machines are offered; elsewhere run
# `make test TORCH=torch` (or the CPU wheel from PyTorch's own index).
TORCH ?= torch==2.13.0+cpu

.PHONY: demo test test-fast lint format

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The main job needs the package and its dependencies only (TensorFlow, Keras, Keras Tuner, ...).
# --no-compile: pip would byte-compile every module of TensorFlow, PyTorch and JAX (PyTorch alone:
# 7 s here); Python compiles the few a run imports when it first imports them, and keeps them,
# unless PYTHONDONTWRITEBYTECODE is set (as in some containers): then every process compiled
# TensorFlow's Python anew, 22 s of CPU per `import tensorflow` instead of 8 on a 2-core host,
# and the suite, which starts a hundred processes, took twice as long. So it is not passed on.
unexport PYTHONDONTWRITEBYTECODE
PIP_INSTALL := $(BIN)/python -m pip install --quiet --no-compile
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e .
	touch $@

# The suite adds the test extras, ONNX and the other two backends.
$(TEST_STAMP): pyproject.toml $(DEMO_STAMP)
	$(PIP_INSTALL) -e '.[test,onnx]' jax '$(TORCH)'
	touch $@

demo: $(DEMO_STAMP)
	$(BIN)/bottleneck-search search

lint: $(TEST_STAMP)
	$(BIN)/ruff format --check bottleneck_search tests bench
	$(BIN)/ruff check bottleneck_search tests bench

format: $(TEST_STAMP)
	$(BIN)/ruff format bottleneck_search tests bench
	$(BIN)/ruff check --fix bottleneck_search tests bench

# Two pytest workers, a test file each at a time (pytest-xdist): most of a test's time is Python,
# compiling and waiting, not arithmetic, so the suite takes about half as long on 2 cores (three
# workers measured slower on 2 cores: 921 s against 773 s).
PYTEST := $(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15

test: lint
	$(PYTEST)

test-fast: lint
	$(PYTEST) -m "not slow"
