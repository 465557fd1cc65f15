# Everything a developer runs. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-stamp

# The processes of the product (docker-compose.yml runs the same commands).
# The web server keeps a pool of 16 database connections (ASGI requests run in fresh threads).
WEB_CMD = env CLINIC_DB_POOL_MAX=16 $(BIN)/uvicorn config.asgi:application --host 127.0.0.1 --port 8000
WORKER_CMD = $(BIN)/celery -A config worker -Q $(CLINIC_QUEUE_PREFIX)events,$(CLINIC_QUEUE_PREFIX)default --pool threads --concurrency 8 --loglevel INFO
BEAT_CMD = $(BIN)/celery -A config beat --schedule .data/celerybeat-schedule --loglevel INFO
SWEEPER_CMD = $(PY) manage.py sweep_outbox --loop
MLLP_CMD = $(PY) manage.py mllp_listener --host 127.0.0.1 --port 2575

# With the database ready: DATABASE_URL if set, else the embedded PostgreSQL under .data/, which
# scripts/dev.py starts (the settings never do) and hands to the command as DATABASE_URL.
WITH_DB = $(PY) scripts/dev.py exec --

.PHONY: setup run test pytest lint format typecheck web worker beat mllp stop-db clean bench bench-outbox bench-identity bench-terminology bench-visit bench-ingest bench-fhir

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@# The web app's browser tests drive Debian's Chromium (Playwright downloads no browser here).
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq chromium; } \
		|| echo "[clinic] Chromium is missing (apt-get install chromium): the browser tests will be skipped"
	@mkdir -p .data
	@touch $(STAMP)

run: setup
	@mkdir -p .data
	$(PY) scripts/dev.py run --web "$(WEB_CMD)" --worker "$(WORKER_CMD)" --beat "$(BEAT_CMD)" --sweeper "$(SWEEPER_CMD)" --mllp "$(MLLP_CMD)"

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
bench: bench-outbox bench-identity bench-terminology bench-visit bench-ingest bench-fhir

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

web: setup
	$(WITH_DB) $(WEB_CMD)

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
