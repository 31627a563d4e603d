# The two commands: `make run` starts the whole platform, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install run test lint bench workers clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m app.runtime.run

test: install
	sh tests/e2e/ensure_chromium.sh
	sh tests/ensure_tools.sh
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

bench: install
	for b in overhead monitor files email reports api documents; do $(PY) bench/$$b.py || exit 1; done

workers: install
	./celery_worker.sh start

clean:
	rm -rf var .pytest_cache .ruff_cache
