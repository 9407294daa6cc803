# The project's commands. `make run` and `make test` are the quick start; CI runs `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: install run test test-fast test-faults lint format bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/diamond-pricing serve

test: install
	$(BIN)/pytest -q

# The fault suite alone (kill -9, PostgreSQL restart, takeover, races, load while repricing);
# `make test` runs it too. The load test at 1M by hand (a few minutes):
#   DIAMOND_LOAD_COUNT=1000000 DIAMOND_LOAD_JOB_SECONDS=0 $(BIN)/pytest -q tests/faults/test_load.py
test-faults: install
	$(BIN)/pytest -q tests/faults

# The same suite on two xdist workers (they share the test PostgreSQL; the template is built
# under a file lock). Faster on 2+ cores; `test` stays serial as the CI default.
test-fast: install
	$(BIN)/pytest -q -n 2

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

screenshots: install
	DIAMOND_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -q tests/e2e

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
