# The two commands a newcomer needs: `make run` (the whole product with demo data) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# NHS.UK frontend's precompiled CSS/JS/images and htmx, copied from node_modules (not kept in git).
VENDOR := static/vendor
NHSUK_DIST := node_modules/nhsuk-frontend/dist/nhsuk
VENDORED := $(VENDOR)/.built

.PHONY: run test test-fast test-browser chromium haproxy bench bench-fetch bench-browser bench-access bench-audit bench-api bench-load lint format install clean

$(INSTALLED): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(INSTALLED)

# Only the npm registry is used; `npm ci` installs exactly what package-lock.json says.
# The CSS asks for its images at /assets/: made relative, so that they are served from static.
$(VENDORED): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR)
	mkdir -p $(VENDOR)/nhsuk $(VENDOR)/htmx
	cp $(NHSUK_DIST)/nhsuk-frontend.min.css $(NHSUK_DIST)/nhsuk-frontend.min.css.map \
	   $(NHSUK_DIST)/nhsuk-frontend.min.js $(NHSUK_DIST)/nhsuk-frontend.min.js.map $(VENDOR)/nhsuk/
	cp -r $(NHSUK_DIST)/assets $(VENDOR)/nhsuk/assets
	sed -i 's#url(/assets/#url(assets/#g' $(VENDOR)/nhsuk/nhsuk-frontend.min.css
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx/
	touch $@

install: $(INSTALLED) $(VENDORED)

## Debian's Chromium for the browser tests (Playwright's own browser download is never used).
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

## Debian's HAProxy: the load balancer in front of `make bench-load BENCH_ARGS="--hosts 2"`.
haproxy:
	command -v haproxy >/dev/null || (apt-get update && apt-get install -y haproxy)

## Start the portal, a Celery worker and the simulated source systems with demo data.
run: install
	$(PY) -m demo.launch

## Run the whole test suite (set DATABASE_URL / CELERY_BROKER_URL to use PostgreSQL / Redis).
test: install chromium
	$(PY) -m pytest

## Only the browser tests (Playwright on Debian's Chromium; screenshots in var/test-output/).
test-browser: install chromium
	$(PY) -m pytest -m browser tests/browser

## Only the fast tests (no HTTP sources, no worker).
test-fast: install
	$(PY) -m pytest -m "not integration and not browser"

## London scale on PostgreSQL: 1,000,000 patients, 10,000,000 access events, the hot pages
## against their targets and a bare SQL floor (see README; --scale 0.01 for a quick run).
bench: install
	$(PY) -m benchmarks.london $(BENCH_ARGS)

## Fetching one record from five sources through a real Celery worker (SQLite is enough).
bench-fetch: install
	$(PY) -m benchmarks.fetch_fanout

## A GP's look in Chromium against make run's processes, sources slowed as in bench-fetch: click
## to first item and to all settled over 20 looks, against the fastest and slowest source.
bench-browser: install chromium
	$(PY) -m benchmarks.browser $(BENCH_ARGS)

## "My patients" at 1,000,000 patients against django-guardian's stock query (needs PostgreSQL).
bench-access: install
	$(PY) -m benchmarks.my_patients

## What the access event costs a record view, with 10,000,000 events stored (needs PostgreSQL).
bench-audit: install
	$(PY) -m benchmarks.audit_write

## A patient read through the API (authorisation, audit, FHIR) vs a bare indexed lookup (needs PostgreSQL).
bench-api: install
	$(PY) -m benchmarks.api_read

## The product served as production runs it (gunicorn, Celery worker, PostgreSQL, Redis) on the
## London data, under locust at 1, 4, 16, 64 users (docs/scale.md; BENCH_ARGS="--scale 0.01").
bench-load: install haproxy
	$(PY) -m benchmarks.load $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf var .pytest_cache
