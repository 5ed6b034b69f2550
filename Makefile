# The two commands: `make run` (the daily DAG over demo data) and `make test` (lint, the docs site, tests).
# Both build the virtual environment first when needed.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)/plugins

.PHONY: install browser imap spamassassin run test test-quick test-unit lint docs playbook-schema airflow reset bench soak celery-demo lock clean

# The lock is complete (every package pinned), so it is installed as is, without resolving: the
# mysql provider's required mysqlclient (a C build against libmariadb headers, no Linux wheel) is
# left out; MySQL warehouses use mysql-connector-python, a wheel (requirements.in).
install: $(STAMP)

$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.txt
	touch $(STAMP)

# `make run DATE=2026-12-06`: another day over the same demo warehouse (default: today).
DATE ?=
run: install
	$(if $(ARGS),$(error make run takes DATE=YYYY-MM-DD, not ARGS))
	$(BIN)/python -m devenv run $(if $(DATE),--date $(DATE))

airflow: install
	$(BIN)/python -m devenv airflow

reset: install
	$(BIN)/python -m devenv reset

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The console's browser tests drive Debian's chromium through Playwright (never a browser
# download: `playwright install` is not used). Installed with apt when missing (needs root).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

# The guides in docs/ as a site (mkdocs.yml) in site/; strict: a broken link or anchor fails it.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The inbox tests read replies from Debian's dovecot IMAP server (tests/imap_server.py starts its
# own instance on a free port); installed with apt when missing (needs root), as chromium is.
imap:
	@test -x /usr/sbin/dovecot || (apt-get update -qq && apt-get install -y -qq dovecot-imapd)

# The message hygiene test scores customer copies with Debian's SpamAssassin (local rules only).
spamassassin:
	@test -x /usr/bin/spamassassin || (apt-get update -qq && apt-get install -y -qq spamassassin)

test: lint docs browser imap spamassassin
	$(BIN)/pytest

# The inner loop: everything but the tests marked slow (backfill, crash harness, concurrency,
# the calendar walk, the Celery cluster), which make test and CI still run.
test-quick: lint browser imap spamassassin
	$(BIN)/pytest -m "not slow"

# include/playbooks/playbook.schema.json from the playbook model (renewals/playbooks/schema.py), after
# a change to it; a unit test holds the committed file equal to the model.
playbook-schema: install
	$(BIN)/python -c "from renewals.playbooks.schema import write_json_schema; write_json_schema()"

# The unit tests alone: plain Python, no PostgreSQL, no Airflow metadata database (tests/unit). The
# integration tests (tests/integration) set those up once per session in their conftest.py.
test-unit: install
	$(BIN)/pytest tests/unit

# A day's run at N subscriptions against its floor (bench/__main__.py); `make bench N="10000 100000"`
# for a quick one. Not a test: it prints a table per N and, last, ratio_to_floor=X.
N ?= 10000 100000 1000000
bench: install
	$(BIN)/python -m bench $(N)

# The crash harness as a long run (tests/soak.py): CRASHES SIGKILLs over every point of a send, two
# runs of the same day at once part of the time, an older day's run between a crash and its retry,
# then reruns and operator verdicts; one totals
# line, exit 1 on any duplicate or loss. Not part of `make test`; `make soak CRASHES=20` for a short one.
CRASHES ?= 200
soak: install
	$(BIN)/python -m tests.soak $(CRASHES)

# renewals_daily on the CeleryExecutor with two local workers, Redis and PostgreSQL
# (devenv/celery_demo.py); shows which worker ran each shard. `make test` runs the same cluster as
# tests/integration/test_celery_cluster.py (slow).
celery-demo: install
	$(BIN)/python -m devenv.celery_demo

# Regenerate the one lock, requirements.txt, from requirements.in (runtime) and requirements-dev.in
# (tests and tools) under Airflow's constraints (constraints/airflow-3.11.txt, less the pins
# constraints/overrides.txt replaces, each with its reason); a maintainer's step, see
# constraints/README.md. The Docker image installs requirements.in under the lock. The mysql provider
# goes in without its dependencies (mysqlclient: see install); requirements.in lists the rest.
LOCK_CONSTRAINTS := constraints/airflow-3.11.txt
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	grep -v -E "^($$(grep -o '^[^ #]\+' constraints/overrides.txt | paste -sd'|'))==" $(LOCK_CONSTRAINTS) \
		> .lock-venv/constraints.txt
	grep -v '^apache-airflow-providers-mysql' requirements.in > .lock-venv/requirements.in
	cp requirements-dev.in .lock-venv/
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -r .lock-venv/requirements-dev.in -c .lock-venv/constraints.txt
	.lock-venv/bin/pip install --quiet --no-deps $$(grep -o '^apache-airflow-providers-mysql==[^ ]*' requirements.in)
	.lock-venv/bin/pip freeze --exclude-editable > requirements.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache site
