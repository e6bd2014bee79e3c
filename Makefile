# Bridgework: `make demo` runs the whole stack with a demo network; `make test` runs the tests.
# Both install what they need on a fresh machine (Python venv, Kafka from Maven Central,
# PostgreSQL from Debian's packages) and stop what they started.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install lock hooks browser oidc-provider axe demo demo-serve screenshots test test-unit \
	test-integration test-e2e lint infra-up infra-down down \
	bench-matching bench-pipeline bench-cluster bench-proposals-page api-docs chaos chaos-cluster \
	clean

# Exact versions from the lock (requirements/*.txt, with hashes), then the project itself;
# pyproject.toml keeps the ranges. `pip check` fails when pyproject.toml names a package that
# the lock lacks: run `make lock` (docs/development.md).
$(INSTALLED): pyproject.toml requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r requirements/dev.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m pip check
	touch $(INSTALLED)

install: $(INSTALLED)

# Re-resolve the lock for Python 3.11 on linux x86_64 after changing pyproject.toml. Pins that
# still fit are kept; LOCK_ARGS=--upgrade (or --upgrade-package NAME) moves them on purpose.
UV_COMPILE := $(PY) -m uv pip compile pyproject.toml --quiet --generate-hashes \
	--python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--custom-compile-command 'make lock' $(LOCK_ARGS)
# Not after `install`: that checks the environment against pyproject.toml, which a new
# dependency fails until the lock has it. The lock needs only uv, from an earlier install.
lock:
	@$(PY) -m uv --version >/dev/null 2>&1 || { echo "make lock needs uv: run make install first"; exit 1; }
	$(UV_COMPILE) -o requirements/runtime.txt
	$(UV_COMPILE) --extra dev -c requirements/runtime.txt -o requirements/dev.txt

# Commit subjects of at most 72 characters (devtools/githooks/commit-msg), for this clone.
hooks:
	git config core.hooksPath devtools/githooks

# Debian's Chromium for the browser tests and screenshots (Playwright drives it; it never
# downloads browsers of its own). Waits for apt when another process holds its lock.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get -o DPkg::Lock::Timeout=300 update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -q chromium; \
	fi

# The real OpenID provider the single sign-on tests start (devtools/oidc: the `oidc-provider`
# package from npm at the lock file's exact versions; Node 20 or later).
OIDC_INSTALLED := devtools/oidc/node_modules/.package-lock.json
$(OIDC_INSTALLED): devtools/oidc/package.json devtools/oidc/package-lock.json
	npm ci --prefix devtools/oidc --no-audit --no-fund
	touch $(OIDC_INSTALLED)

oidc-provider: $(OIDC_INSTALLED)

# axe-core, which the browser tests run on every page (devtools/axe: the npm package at the
# lock file's exact version).
AXE_INSTALLED := devtools/axe/node_modules/.package-lock.json
$(AXE_INSTALLED): devtools/axe/package.json devtools/axe/package-lock.json
	npm ci --prefix devtools/axe --no-audit --no-fund
	touch $(AXE_INSTALLED)

axe: $(AXE_INSTALLED)

infra-up:
	bash devtools/kafka.sh start
	bash devtools/postgres.sh start

infra-down down:
	-pkill -f '$(CURDIR)/.venv/bin/python -m services\.' || true
	bash devtools/kafka.sh stop
	bash devtools/postgres.sh stop

# Both start a fresh broker log and stop the servers afterwards, whatever happens.
demo: install
	bash devtools/with-infra.sh $(PY) -m devtools.demo

# The demo, left running for a person to sign in and decide in a browser; Ctrl-C stops it.
demo-serve: install
	bash devtools/with-infra.sh $(PY) -m devtools.demo --serve

# The README's screenshots of the coordinators' pages (docs/screenshots/*.png).
screenshots: install browser
	bash devtools/with-infra.sh $(PY) -m devtools.screenshots

# Everything: lint, then every tier (the chaos run's short form included) on fresh local
# infrastructure; ends with the 20 slowest tests (the suite aims at 15 minutes). .ci/run calls this.
test: install lint browser oidc-provider axe
	bash devtools/with-infra.sh $(PY) -m pytest --durations=20

# 5,000 events through the real stack, calm and under faults; prints the counts (~10-15 min);
# then the cluster's own run.
chaos: install
	bash devtools/with-infra.sh $(PY) -m pytest -m '' -s tests/chaos
	$(MAKE) chaos-cluster

# On a local three-broker cluster: two processes of every service, a leader broker killed, a
# broker down for 60 s, a process of each service killed mid-batch; prints the counts, the
# rebalances and the stalls. The full form by default; CLUSTER_CHAOS=short for the short one.
CLUSTER_CHAOS ?= full
chaos-cluster: install
	BRIDGEWORK_KAFKA_BROKERS=3 bash devtools/with-infra.sh \
	  $(PY) -m pytest -m '' -s tests/chaos/test_cluster_chaos.py -k $(CLUSTER_CHAOS)

# One tier at a time, each with what it needs: unit tests need nothing running; integration
# tests need Kafka and PostgreSQL; end-to-end tests also start the three services and Chromium.
test-unit: install
	$(PY) -m pytest tests/unit

test-integration: install oidc-provider
	bash devtools/with-infra.sh $(PY) -m pytest tests/integration

test-e2e: install browser axe
	bash devtools/with-infra.sh $(PY) -m pytest tests/e2e

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --no-error-summary

bench-matching: install
	$(PY) -m bench.bench_matching

# The event pipeline against the plain-client limit, on a fresh local broker and database
# (~20 min with the 10-minute soak). Pass options with BENCH_ARGS="--soak-seconds 120".
bench-pipeline: install
	bash devtools/with-infra.sh $(PY) -m bench.bench_pipeline $(BENCH_ARGS)

# One broker against a local three-broker cluster (docs/scaling.md): the limits, ingest, drain
# with one and two matchers and latency on arrival, on a fresh Kafka of each size.
BENCH_CLUSTER_SKIP := latency latency_on_arrival_rounds_apart sustained notifier soak
bench-cluster: install
	bash devtools/with-infra.sh $(PY) -m bench.bench_pipeline --brokers 1 3 \
	  --skip $(BENCH_CLUSTER_SKIP) --out bench/results/pipeline_brokers.json $(BENCH_ARGS)

# A coordinator's proposals page with 2,000 pending proposals: server time per request
# (target p95 <= 150 ms). BENCH_ARGS="--requests 20" for a short run.
bench-proposals-page: install
	bash devtools/with-infra.sh $(PY) -m bench.bench_proposals_page $(BENCH_ARGS)

# docs/openapi.json, docs/asyncapi.json and docs/configuration.md, generated from the code
# (a test checks they match).
api-docs: install
	$(PY) -m devtools.api_docs

clean: down
	rm -rf .local $(VENV)
