# govpulse: every target installs what it needs (virtualenv, packages, local servers).
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test test-unit lint report-tools services services-down status bench dashboards schemas clean-venv

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

## What the report tests look through (tests/test_report_render.py): headless Chromium and poppler's
## pdftoppm/pdftotext, and Pango for WeasyPrint's PDF: Debian packages, installed with apt-get (sudo
## when not root) only if missing.
report-tools:
	@if command -v chromium >/dev/null && command -v pdftoppm >/dev/null && command -v pdftotext >/dev/null \
	    && ldconfig -p | grep -q 'libpangoft2-1.0.so.0'; then exit 0; fi; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "report-tools: chromium or poppler-utils missing, and neither root nor sudo to install them: apt-get install chromium poppler-utils"; exit 1; fi; \
	  command -v apt-get >/dev/null || { echo "report-tools: no apt-get here: install chromium and poppler-utils (pdftoppm, pdftotext) by hand"; exit 1; }; \
	  echo "report-tools: installing chromium, poppler-utils and Pango (Debian packages)"; \
	  { $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium poppler-utils libpango-1.0-0 libpangoft2-1.0-0; } \
	    || { echo "report-tools: apt-get could not install chromium and poppler-utils (see above)"; exit 1; }; \
	  command -v chromium >/dev/null && command -v pdftoppm >/dev/null && command -v pdftotext >/dev/null \
	    || { echo "report-tools: installed, yet chromium, pdftoppm or pdftotext is still not on PATH"; exit 1; }

## The tests, against the real local Kafka and InfluxDB (started here if needed), after the checks.
test: lint services report-tools
	$(BIN)/govpulse services status
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ -n "$$CI" ]; then $(BIN)/govpulse services down; fi; exit $$rc

test-unit: $(STAMP) report-tools
	$(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

bench: services
	$(BIN)/govpulse bench $(BENCH_ARGS)

dashboards: $(STAMP)
	$(BIN)/govpulse dashboards generate

schemas: $(STAMP)
	$(BIN)/govpulse schemas export schemas/json

clean-venv:
	rm -rf $(VENV)
