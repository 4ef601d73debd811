# Two commands do all set-up: `make run` and `make test`. Both bootstrap .venv on first use and
# skip what is already done (the stamp is rebuilt only when the dependency files change).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test bench faults lint fmt validate clean-data help

help:
	@echo "make run    - start the embedded Redis, the data source and the Dagster UI on http://127.0.0.1:3000"
	@echo "make test   - run the whole test suite"
	@echo "make bench  - run the benchmarks in bench/ (prints side-by-side ratios)"
	@echo "make faults - the fault suite at 10x its CI scale (kills, fuzzing, storms)"
	@echo "make lint   - ruff"

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "wanperf_dagster needs Python >= 3.11; set PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/wanperf dev

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

faults: $(STAMP)
	WANPERF_FAULT_SCALE=10 $(BIN)/python -m pytest wanperf_dagster_tests/reliability -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

validate: $(STAMP)
	$(BIN)/dg check defs

clean-data:
	-$(BIN)/wanperf redis stop
	rm -rf .wanperf
