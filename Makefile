# Everything a developer runs. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-stamp

# The processes of the product (docker-compose.yml runs the same commands; ADR 7, docs/serving.md):
# the front (HAProxy) is the one origin, on PORT; it sends paths ending in /stream to the stream
# server and everything else to the request workers (gunicorn).
# The front reaches the workers on a Unix socket (cheaper than TCP per request: ADR 7).
PORT ?= 8000
WEB_SOCKET ?= $(CURDIR)/.data/web.sock
STREAM_PORT ?= 8002
MLLP_PORT ?= 2575
HAPROXY ?= $(shell command -v haproxy || echo /usr/sbin/haproxy)
WEB_CMD = $(BIN)/gunicorn -c deploy/gunicorn.conf.py --bind unix:$(WEB_SOCKET) config.wsgi
STREAM_CMD = $(BIN)/uvicorn config.streams:application --host 127.0.0.1 --port $(STREAM_PORT) --no-access-log
FRONT_CMD = env CLINIC_FRONT_BIND=127.0.0.1:$(PORT) CLINIC_WEB_ADDR=unix@$(WEB_SOCKET) CLINIC_STREAM_ADDR=127.0.0.1:$(STREAM_PORT) $(HAPROXY) -W -db -f deploy/haproxy.cfg
WORKER_CMD = $(BIN)/celery -A config worker -Q $(CLINIC_QUEUE_PREFIX)events,$(CLINIC_QUEUE_PREFIX)default --pool threads --concurrency 8 --loglevel INFO
BEAT_CMD = $(BIN)/celery -A config beat --schedule .data/celerybeat-schedule --loglevel INFO
SWEEPER_CMD = $(PY) manage.py sweep_outbox --loop
MLLP_CMD = $(PY) manage.py mllp_listener --host 127.0.0.1 --port $(MLLP_PORT)

# With the database ready: DATABASE_URL if set, else the embedded PostgreSQL under .data/, which
# scripts/dev.py starts (the settings never do) and hands to the command as DATABASE_URL.
WITH_DB = $(PY) scripts/dev.py exec --

# Debian packages the product runs with: the front (HAProxy), the HTTP load generator of the
# benchmarks (wrk) and the browser the web app's tests drive (chromium, at /usr/bin/chromium:
# Playwright downloads no browser here). `make setup` installs them when they are missing (as
# root, or with sudo).
DEBIAN_PACKAGES = haproxy wrk chromium

.PHONY: setup debian-packages run test pytest lint format typecheck web stream front worker beat mllp stop-db clean bench bench-outbox bench-identity bench-terminology bench-visit bench-ingest bench-fhir bench-http

setup: $(STAMP) debian-packages

debian-packages:
	@missing=""; for p in $(DEBIAN_PACKAGES); do command -v $$p >/dev/null || test -x /usr/sbin/$$p || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo -n"; \
	  else echo "Missing Debian packages:$$missing (install them: apt-get install$$missing)"; exit 1; fi; \
	  echo "Installing Debian packages:$$missing"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq$$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@mkdir -p .data
	@touch $(STAMP)

run: setup
	@mkdir -p .data
	$(PY) scripts/dev.py run --port $(PORT) --mllp-port $(MLLP_PORT) --web "$(WEB_CMD)" --stream "$(STREAM_CMD)" --front "$(FRONT_CMD)" \
	  --worker "$(WORKER_CMD)" --beat "$(BEAT_CMD)" --sweeper "$(SWEEPER_CMD)" --mllp "$(MLLP_CMD)"

test: setup lint pytest

pytest: setup
	$(WITH_DB) $(BIN)/pytest --ds=tests.settings $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(WITH_DB) $(PY) manage.py makemigrations --check --dry-run
	$(MAKE) --no-print-directory typecheck

typecheck: setup
	$(BIN)/mypy .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks print their figures next to a floor measured in the same run (see bench/).
bench: bench-outbox bench-identity bench-terminology bench-visit bench-ingest bench-fhir bench-http

bench-outbox: setup
	$(WITH_DB) $(PY) bench/outbox.py

bench-identity: setup
	$(WITH_DB) $(PY) bench/identity.py

bench-terminology: setup
	$(WITH_DB) $(PY) bench/terminology.py

bench-visit: setup
	$(WITH_DB) $(PY) bench/visit.py

bench-ingest: setup
	$(WITH_DB) $(PY) bench/ingest.py $(BENCH_ARGS)

bench-fhir: setup
	$(WITH_DB) $(PY) bench/fhir.py $(BENCH_ARGS)

bench-http: setup
	$(WITH_DB) $(PY) bench/shape.py $(BENCH_ARGS)

web: setup
	@mkdir -p .data
	$(WITH_DB) $(WEB_CMD)

stream: setup
	$(WITH_DB) $(STREAM_CMD)

front: setup
	$(FRONT_CMD)

worker: setup
	$(WITH_DB) $(WORKER_CMD)

beat: setup
	@mkdir -p .data
	$(WITH_DB) $(BEAT_CMD)

mllp: setup
	$(WITH_DB) $(MLLP_CMD)

stop-db: setup
	$(PY) scripts/dev.py stop-db

clean: stop-db
	rm -rf .data .mypy_cache .ruff_cache .pytest_cache
