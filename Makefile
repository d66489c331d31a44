# Two commands for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?=
ARGS ?=

.PHONY: run test lint typecheck pytest system-deps bench image-test clean

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
	$(BIN)/ruff check exporter tests benchmarks grafana deploy
	$(BIN)/ruff format --check exporter tests benchmarks grafana deploy

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

# parallel workers: the tests mostly wait on sockets and processes, so more than the 2 cores
TEST_WORKERS ?= 4
pytest: $(VENV)/.dev-installed
	$(BIN)/pytest -n $(TEST_WORKERS)

## system-deps: Debian packages the suite uses (promtool and prometheus, chromium, openssl,
## iproute2 for the network-namespace tests),
## installed when missing and running as root
SYSTEM_TOOLS := promtool:prometheus prometheus:prometheus chromium:chromium openssl:openssl \
	ip:iproute2 unshare:util-linux
system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing tools; install the Debian packages:$$missing" >&2; exit 1; fi; fi

## bench: the fleet-scale benchmark; writes benchmarks/RESULTS.md (takes a few minutes)
bench: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/bench.py

## image-test: build the Docker image and check it runs (needs a Docker daemon; not in make test)
image-test:
	bash deploy/docker/image-test.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
