# Two commands do all set-up: `make run` and `make test`. Both bootstrap .venv on first use and
# skip what is already done (a stamp is rebuilt only when the dependency files change). `make run`
# installs what the project runs on; the test, lint and bench targets add the dev tools.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-run
DEV    := $(VENV)/.installed-dev
PYTEST_ARGS ?=
# test processes (pytest-xdist): each has its own embedded Valkey, data directory and database;
# TEST_JOBS=0 runs the suite in this one process
TEST_JOBS ?= 2

.PHONY: run test bench faults soak sla-month lint fmt validate clean-data help

help:
	@echo "make run    - start the embedded Redis, the data source and the Dagster UI on http://127.0.0.1:3000"
	@echo "make test   - run the whole test suite"
	@echo "make bench  - run the benchmarks in bench/ (prints side-by-side ratios)"
	@echo "make faults - the fault suite at 10x its CI scale (kills, fuzzing, storms)"
	@echo "make soak   - 7 simulated days of 2,000 sites through the real daemon, with faults (CI: 2 days of 16)"
	@echo "make sla-month - the SLA report's ground truth over a whole simulated month (CI: 7 days)"
	@echo "make lint   - ruff"

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "wanperf_dagster needs Python >= 3.11; set PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $(STAMP)

$(DEV): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(DEV)

run: $(STAMP)
	$(BIN)/wanperf dev

# -X faulthandler: a crash of the test process (a C extension, say) prints every thread's stack
test: $(DEV)
	$(BIN)/python -X faulthandler -m pytest -n $(TEST_JOBS) --dist worksteal $(PYTEST_ARGS)

bench: $(DEV)
	$(BIN)/python -m bench

faults: $(DEV)
	WANPERF_FAULT_SCALE=10 $(BIN)/python -m pytest wanperf_dagster_tests/reliability -p no:cacheprovider

soak: $(DEV)
	$(BIN)/python -m bench soak --report .wanperf/soak.json

sla-month: $(DEV)
	WANPERF_SLA_DAYS=30 $(BIN)/python -m pytest wanperf_dagster_tests/sla/test_month_truth.py -p no:cacheprovider

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

fmt: $(DEV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

validate: $(DEV)
	$(BIN)/dg check defs

clean-data:
	-$(BIN)/wanperf redis stop
	rm -rf .wanperf
