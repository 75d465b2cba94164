# Two commands for a new user: `make run` and `make test` (see README.md).
SHELL      := /bin/bash
# Debian's interpreter: its sqlite3 module can load extensions (SpatiaLite);
# the pyenv python3 that may be first on PATH cannot.
PYTHON     ?= /usr/bin/python3
VENV       ?= .venv
HOST       ?= 127.0.0.1
PORT       ?= 5000
RUN_APT    := python3-venv libsqlite3-mod-spatialite fonts-wqy-zenhei
TEST_APT   := $(RUN_APT) postgresql postgresql-15-postgis-3 chromium
BENCH_APT  := $(TEST_APT) wrk
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export SPATIALITE_LIBRARY_PATH ?= mod_spatialite
export FLASK_APP := wsgi:app

.PHONY: run run-prod test install install-test install-bench system-deps system-deps-test system-deps-bench lint clean bench bench-full

$(VENV)/.installed: setup.cfg pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	@touch $@

$(VENV)/.installed-tests: $(VENV)/.installed
	$(VENV)/bin/pip install -q -e '.[tests]'
	@touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-tests
	$(VENV)/bin/pip install -q -e '.[tests,bench]'
	@touch $@

system-deps:
	@scripts/ensure-apt.sh $(RUN_APT)

system-deps-test:
	@scripts/ensure-apt.sh $(TEST_APT)

system-deps-bench:
	@scripts/ensure-apt.sh $(BENCH_APT)

install: system-deps $(VENV)/.installed

install-test: system-deps-test $(VENV)/.installed-tests

install-bench: system-deps-bench $(VENV)/.installed-bench

run: install
	@scripts/run.sh $(HOST) $(PORT)

test: install-test
	$(VENV)/bin/python -m pytest

# The sweep benchmark on PostGIS up to 1,000,000 open tickets, then the photo intake on a
# 12-megapixel phone JPEG (bench/README.md, docs/benchmarks.md).
bench: install-test
	$(VENV)/bin/python -m bench.bench_sweep --full
	$(VENV)/bin/python -m bench.bench_photos
	$(VENV)/bin/python -m bench.bench_kpis --full  # KPI queries over 100k-1M tickets, 10M events (about 20 minutes)
	$(VENV)/bin/python -m bench.bench_hotline      # the 29,999 real LA 311 rows through the 12345 import

lint: install-test
	$(VENV)/bin/pip install -q -e '.[dev]'
	$(VENV)/bin/ruff check ticketing geo workers config tests
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest-tmp
