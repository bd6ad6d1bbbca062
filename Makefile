# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
SIMULATE ?= 6
SIMULATE_OCPP201 ?= 2
DEMO_PASSWORD ?= demo-charge-2026
export DEMO_PASSWORD

.PHONY: run test install lint typecheck migrations-check browser-deps nginx-deps interop-deps clean services-stop run-distributed audit

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

# The German catalogue ships compiled (locale/de/LC_MESSAGES/django.mo); with
# gettext's msgfmt at hand it is compiled again from the .po here.
install: $(VENV)/.installed
	@if command -v msgfmt >/dev/null 2>&1; then \
	  for po in locale/*/LC_MESSAGES/django.po; do msgfmt --check -o "$${po%.po}.mo" "$$po" || exit 1; done; \
	fi

# Embedded mode: SQLite, in-memory channel layer, eager Celery + in-process scheduler,
# demo data and a simulated charger fleet. Foreground until Ctrl-C.
run: install
	@DEBUG=$${DEBUG:-true} DEMO_MODE=true $(BIN)/python manage.py migrate --noinput >/dev/null
	@DEBUG=$${DEBUG:-true} DEMO_MODE=true $(BIN)/python manage.py load_demo_data
	@DEBUG=$${DEBUG:-true} DEMO_MODE=true PORT=$(PORT) $(BIN)/python manage.py embedded_env >/dev/null
	@DEBUG=$${DEBUG:-true} DEMO_MODE=true PORT=$(PORT) SIMULATE=$(SIMULATE) SIMULATE_OCPP201=$(SIMULATE_OCPP201) $(BIN)/python manage.py serve --demo

browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "error: /usr/bin/chromium missing: apt-get install chromium"; exit 1; fi; \
	fi

# nginx for the TLS-proxy tests (security profiles behind nginx, as make run-distributed).
nginx-deps:
	@if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing nginx-light with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; \
	  else echo "error: nginx missing: apt-get install nginx-light"; exit 1; fi; \
	fi

# Node.js and the pinned ocpp-rpc (tests/interop/station): an independent OCPP
# implementation that validates every frame against the official schemas.
INTEROP_STATION := tests/interop/station
interop-deps:
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing nodejs and npm with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else echo "error: npm missing: apt-get install nodejs npm"; exit 1; fi; \
	fi
	@if [ ! -f $(INTEROP_STATION)/node_modules/.package-lock.json ] || \
	  [ $(INTEROP_STATION)/package-lock.json -nt $(INTEROP_STATION)/node_modules/.package-lock.json ]; then \
	  echo "installing the interop station's packages with npm ci"; \
	  cd $(INTEROP_STATION) && npm ci --no-audit --no-fund --loglevel=error; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy with the Django and DRF plugins; what it checks is set in pyproject.toml.
typecheck: install
	$(BIN)/mypy

# Known vulnerabilities in requirements.lock (pip-audit in var/audit-venv); fails
# unless every pinned package could be checked. `make test` runs it with
# --offline-ok: an unreachable vulnerability service is reported, not fatal.
audit: install
	$(BIN)/python .ci/audit.py

migrations-check: install
	env -u DATABASE_URL -u REDIS_URL DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

# Starts throwaway PostgreSQL + Redis, then checks migrations, lint, types and runs the
# whole suite against PostgreSQL (and the browser tests in Chromium).
test: install browser-deps nginx-deps interop-deps
	@services="$$(.ci/services.sh start)" || { echo "error: PostgreSQL/Redis did not start (a port in use? logs in var/test-services/)"; exit 1; }; \
	  eval "$$services"; \
	  set -e; \
	  echo "PostgreSQL: $$DATABASE_URL  Redis: $$REDIS_URL"; \
	  $(MAKE) --no-print-directory migrations-check; \
	  $(BIN)/python .ci/audit.py --offline-ok; \
	  $(BIN)/ruff check .; \
	  $(BIN)/ruff format --check .; \
	  $(BIN)/mypy; \
	  $(DEPLOY_ENV) DATABASE_URL=$$DATABASE_URL REDIS_URL=$$REDIS_URL $(BIN)/python manage.py check --deploy --fail-level WARNING; \
	  DATABASE_URL=$$DATABASE_URL REDIS_URL=$$REDIS_URL $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The production settings as a deployment would set them, for `check --deploy`.
DEPLOY_ENV := DEBUG=false DEMO_MODE=false SECRET_KEY=ci-deploy-check-$$(date +%s%N)-not-a-real-secret-kq93hf72hd82jd \
  SECURE_SSL_REDIRECT=true SECURE_HSTS_SECONDS=31536000 SECURE_HSTS_PRELOAD=true ALLOWED_HOSTS=cms.example.org

services-stop:
	.ci/services.sh stop

clean:
	rm -rf $(VENV) var

# PostgreSQL + Redis + N ASGI processes behind nginx + Celery worker(s) + one beat.
# Foreground until Ctrl-C (ASGI_PROCESSES, CELERY_WORKERS, PORT; docs/deployment.md).
run-distributed: install
	$(BIN)/python bench/distributed.py

.PHONY: chaos
# Fault injection against the distributed layout under load (bench/chaos.py, 4-8 min):
# kill -9 of an ASGI process, a rolling SIGTERM restart, Redis stopped and started,
# PostgreSQL restarted; fails on any acknowledged message lost or duplicated, 5xx or SIGKILL.
chaos: install nginx-deps
	$(BIN)/python bench/chaos.py

.PHONY: bench bench-full
# The benchmark suite, quick sizes (~15 min); writes docs/benchmarks.md.
bench: install
	$(BIN)/python bench/run.py --scenario all --quick

# Full sizes (10,000 chargers for connections and the storm, 50,000 for the 10-minute soak; ~40 min).
bench-full: install
	$(BIN)/python bench/run.py --scenario all

.PHONY: bench-reports bench-reports-quick bench-reliability
# Reports at fleet scale: 1,000,000 sessions / 50,000,000 meter values generated
# into cms_reports_bench (reused when already there), roll-up backfill, every
# report timed; writes the "Reports at fleet scale" section of docs/benchmarks.md.
bench-reports: install
	$(BIN)/python bench/reports.py --before

bench-reports-quick: install
	$(BIN)/python bench/reports.py --quick

# The reliability reports (outage records, NEVI uptime, 15-minute records, the quarterly
# data set) on the same year of history, with fewer meter values (they read none but
# the quarterly peak power); writes its own section of docs/benchmarks.md.
bench-reliability: install
	$(BIN)/python bench/reports.py --reliability --meter-values 1000000
