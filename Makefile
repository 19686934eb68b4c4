# One machine, no Azure account: `make start` serves the app, `make test` proves it.
# Every target installs what it needs (Python venv + pinned npm Azurite) on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup start test lint typecheck unit integration e2e bench soak fmt generate clean

$(VENV)/.stamp: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.stamp node_modules/.stamp

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

test: setup lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

unit: $(VENV)/.stamp
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: setup
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

e2e: setup
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

soak: setup
	$(PY) -m pytest -m soak tests $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules .devstack-data .pytest_cache .mypy_cache .ruff_cache
