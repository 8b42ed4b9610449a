# Every command the README names is a target here; `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SERVICE ?= kafka

.DEFAULT_GOAL := help
.PHONY: help install up down status logs demo bench test test-quick test-unit lint fmt clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check --upgrade pip setuptools  # the venv's own are old
	$(VENV)/bin/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

install: $(STAMP) ## create .venv and install the project with its dev tools (pinned by constraints.txt)

up: $(STAMP) ## start (or reuse) Kafka, PostgreSQL and moto; write .stack/env
	$(PY) -m devstack up

down: $(STAMP) ## stop the services the stack started (data stays in .stack/)
	$(PY) -m devstack down

status: $(STAMP) ## show each service, its endpoint and health
	$(PY) -m devstack status

logs: $(STAMP) ## print the end of a service's log: make logs SERVICE=postgres
	$(PY) -m devstack logs $(SERVICE)

ONCE ?=
demo: $(STAMP) ## the main job: stack, bridge, worker, sample files, ledger summary (ONCE=1: exit when done)
	$(PY) -m devstack demo $(if $(ONCE),--once)

bench: $(STAMP) ## benchmark on the local stack (~14 min): every figure, py-spy profiles; writes bench/results/
	$(PY) -m devstack.bench --profile

test: $(STAMP) ## every test (budget: .ci/run 25 minutes; unit and repo tests on both cores, then integration) with line+branch coverage of streamproc/ and bridge/ (worker and bridge processes too)
	rm -f .coverage .coverage.*
	$(PY) -m coverage run -m pytest -m "not outage" -n 2 tests/unit tests/repo
	$(PY) -m coverage run -m pytest -m "not outage" tests/integration
	$(PY) -m coverage combine -q
	$(PY) -m coverage report

test-quick: $(STAMP) ## unit and repository tests (on both cores) and one integration case per behaviour (budget: 8 minutes)
	$(PY) -m pytest -m "not slow" -n 2 tests/unit tests/repo
	$(PY) -m pytest -m "not slow" tests/integration

test-unit: $(STAMP) ## the tests that need no services
	$(PY) -m pytest tests/unit tests/repo

lint: $(STAMP) ## ruff (check + format) and mypy strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(STAMP) ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean: ## stop the stack, delete .stack/ and .venv/
	-[ -x $(PY) ] && $(PY) -m devstack down --wipe
	rm -rf $(VENV)

MINUTES ?= 3
SEED ?= 1
.PHONY: chaos chaos-quick faults
faults: $(STAMP) ## the hand-picked outages the chaos run also draws (a frozen broker, PostgreSQL stopped, a worker leaving; ~3 min; outside make test for its budget)
	$(PY) -m pytest -m outage

chaos-quick: $(STAMP) ## only the seeded 2.5-minute chaos run of make test (fails on any violation; ~4 min)
	$(PY) -m pytest -m chaos tests/integration/test_chaos.py

chaos: $(STAMP) ## randomized fault run on a private 3-broker cluster (MINUTES=3 SEED=1); JSON report in test-output/
	$(PY) -m devstack chaos --minutes $(MINUTES) --seed $(SEED)
