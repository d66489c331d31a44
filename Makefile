# Two commands for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?=
ARGS ?=

.PHONY: run test lint typecheck pytest system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip || true

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

## run: start the exporter; with CONFIG=path against real servers, else --demo
run: $(VENV)/.installed
	$(BIN)/rocketchat-exporter $(if $(CONFIG),--config $(CONFIG),--demo) $(ARGS)

## test: lint, type-check and the whole test suite
test: $(VENV)/.dev-installed system-deps lint typecheck pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check exporter tests
	$(BIN)/ruff format --check exporter tests

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

pytest: $(VENV)/.dev-installed
	$(BIN)/pytest

## system-deps: promtool and prometheus (Debian package), installed when missing and root
system-deps:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; \
	  else echo "promtool/prometheus missing: install the Debian package 'prometheus'" >&2; exit 1; fi; }

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
