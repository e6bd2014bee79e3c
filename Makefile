# Bridgework: `make demo` runs the whole stack with a demo network; `make test` runs the tests.
# Both install what they need on a fresh machine (Python venv, Kafka from Maven Central,
# PostgreSQL from Debian's packages) and stop what they started.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install demo test test-unit lint infra-up infra-down down bench-matching bench-pipeline chaos clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

infra-up:
	bash deploy/kafka.sh start
	bash deploy/postgres.sh start

infra-down down:
	-pkill -f '$(CURDIR)/.venv/bin/python -m services\.' || true
	bash deploy/kafka.sh stop
	bash deploy/postgres.sh stop

# Both start a fresh broker log and stop the servers afterwards, whatever happens.
demo: install
	bash deploy/with-infra.sh $(PY) -m deploy.demo

test: install lint
	bash deploy/with-infra.sh $(PY) -m pytest

# 5,000 events through the real stack, calm and under faults; prints the counts (~10-15 min).
chaos: install
	bash deploy/with-infra.sh $(PY) -m pytest -m chaos -s tests/chaos

test-unit: install
	$(PY) -m pytest tests/unit

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --no-error-summary

bench-matching: install
	$(PY) -m bench.bench_matching

# The event pipeline against the plain-client limit, on a fresh local broker and database
# (~20 min with the 10-minute soak). Pass options with BENCH_ARGS="--soak-seconds 120".
bench-pipeline: install
	bash deploy/with-infra.sh $(PY) -m bench.bench_pipeline $(BENCH_ARGS)

clean: down
	rm -rf .local $(VENV)
