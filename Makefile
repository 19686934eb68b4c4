# One machine, no Azure account: `make start` serves the app, `make test` proves it.
# Every target installs what it needs (Python venv + pinned npm Azurite) on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup start test lint typecheck unit integration e2e bench soak fmt generate clean mutation chromium

$(VENV)/.stamp: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# checkov (the Bicep scan in tests/unit/infra) pins packaging and python-dateutil below the
# versions .venv needs, so it gets a venv of its own, called by path from the test.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.stamp: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.stamp node_modules/.stamp

# The playground's browser tests (tests/e2e/ui) drive Debian's Chromium through Playwright:
# Playwright's own browser download is not reachable from these machines. Installed once, as
# root or through sudo; the package lists are fetched only when the first try finds nothing.
# `sudo -n`: never a password prompt in the middle of `make test` (it fails instead, saying so).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends
$(CHROMIUM):
	$(APT_INSTALL) chromium || { $(SUDO) apt-get update -q && $(APT_INSTALL) chromium; }
	test -x $@

chromium: $(CHROMIUM)

start: setup
	$(PY) -m devstack start

generate: setup
	$(PY) -m devstack generate "$(or $(PROMPT),a badger wearing a tuxedo)"

lint: $(VENV)/.stamp
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.stamp
	$(VENV)/bin/mypy function_app.py shared devstack bench

fmt: $(VENV)/.stamp
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup $(CHECKOV_VENV)/.stamp $(CHROMIUM) lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

unit: $(VENV)/.stamp $(CHECKOV_VENV)/.stamp
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: setup
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

e2e: setup $(CHROMIUM)
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

soak: setup
	$(PY) -m pytest -m soak tests $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench

# Mutation testing of the pure modules ([tool.mutmut] only_mutate in pyproject.toml) against
# tests/unit, then the score per module. From a clean mutants/ each time: mutmut keeps earlier
# verdicts, which would outlive edits to the tests.
mutation: $(VENV)/.stamp
	rm -rf mutants
	$(VENV)/bin/mutmut run
	$(PY) -m bench.mutation

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .devstack-data .pytest_cache .mypy_cache .ruff_cache
