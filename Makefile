# Bridgework: `make demo` runs the whole stack with a demo network; `make test` runs the tests.
# Both install what they need on a fresh machine (Python venv, Kafka from Maven Central,
# PostgreSQL from Debian's packages) and stop what they started.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install browser demo demo-serve screenshots test test-unit lint infra-up infra-down down \
	bench-matching bench-pipeline api-docs chaos clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

# Debian's Chromium for the browser tests and screenshots (Playwright drives it; it never
# downloads browsers of its own). Waits for apt when another process holds its lock.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get -o DPkg::Lock::Timeout=300 update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -q chromium; \
	fi

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

# The demo, left running for a person to sign in and decide in a browser; Ctrl-C stops it.
demo-serve: install
	bash deploy/with-infra.sh $(PY) -m deploy.demo --serve

# The README's screenshots of the coordinators' pages (docs/screenshots/*.png).
screenshots: install browser
	bash deploy/with-infra.sh $(PY) -m deploy.screenshots

test: install lint browser
	bash deploy/with-infra.sh $(PY) -m pytest

# 5,000 events through the real stack, calm and under faults; prints the counts (~10-15 min).
chaos: install
	bash deploy/with-infra.sh $(PY) -m pytest -m '' -s tests/chaos

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

# docs/openapi.json and docs/asyncapi.json, generated from the code (a test checks they match).
api-docs: install
	$(PY) -m deploy.api_docs

clean: down
	rm -rf .local $(VENV)
