# The two commands a newcomer needs: `make run` (the whole product with demo data) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test test-fast bench bench-access bench-audit bench-api lint format install clean

$(INSTALLED): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(INSTALLED)

install: $(INSTALLED)

## Start the portal, a Celery worker and the simulated source systems with demo data.
run: install
	$(PY) -m demo.launch

## Run the whole test suite (set DATABASE_URL / CELERY_BROKER_URL to use PostgreSQL / Redis).
test: install
	$(PY) -m pytest

## Only the fast tests (no HTTP sources, no worker).
test-fast: install
	$(PY) -m pytest -m "not integration and not browser"

## Benchmarks (figures for people to read; see README).
bench: install
	$(PY) -m benchmarks.fetch_fanout

## "My patients" at 1,000,000 patients against django-guardian's stock query (needs PostgreSQL).
bench-access: install
	$(PY) -m benchmarks.my_patients

## What the access event costs a record view, with 10,000,000 events stored (needs PostgreSQL).
bench-audit: install
	$(PY) -m benchmarks.audit_write

## A patient read through the API (authorisation, audit, FHIR) vs a bare indexed lookup (needs PostgreSQL).
bench-api: install
	$(PY) -m benchmarks.api_read

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf var .pytest_cache
