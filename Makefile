# govpulse: every target installs what it needs (virtualenv, packages, local servers).
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test test-unit lint services services-down status bench dashboards schemas clean-venv

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: govpulse needs Python 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test,rocksdb]'
	@touch $(STAMP)

venv: $(STAMP)

services: $(STAMP)
	$(BIN)/govpulse services up

services-down: $(STAMP)
	$(BIN)/govpulse services down

status: $(STAMP)
	$(BIN)/govpulse services status

## The main job: local servers, the simulator and the worker, with progress shown.
demo: services
	$(BIN)/govpulse demo

## Code health: lint and format (ruff), types (mypy), the package graph (import-linter).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## The tests, against the real local Kafka and InfluxDB (started here if needed), after the checks.
test: lint services
	$(BIN)/govpulse services status
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ -n "$$CI" ]; then $(BIN)/govpulse services down; fi; exit $$rc

test-unit: $(STAMP)
	$(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

bench: services
	$(BIN)/govpulse bench $(BENCH_ARGS)

dashboards: $(STAMP)
	$(BIN)/govpulse dashboards generate

schemas: $(STAMP)
	$(BIN)/govpulse schemas export schemas/json

clean-venv:
	rm -rf $(VENV)
