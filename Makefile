# The two commands: `make run` starts the whole platform, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

# Debian packages some parts need; scripts/ensure_packages.sh installs what is missing (root).
BROWSER_PACKAGES := chromium fonts-liberation fonts-noto-color-emoji
DOCUMENT_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra \
	ghostscript unpaper libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui \
	python3-uno
ENSURE := sh scripts/ensure_packages.sh

.PHONY: install run test lint bench soak workers clean

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
	$(ENSURE) "The browser tests" $(BROWSER_PACKAGES)
	$(ENSURE) "The OCR and conversion tests" $(DOCUMENT_PACKAGES)
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(ENSURE) "The benchmarks" poppler-utils $(DOCUMENT_PACKAGES)
	for b in overhead monitor files email reports api documents autoscale; do $(PY) bench/$$b.py || exit 1; done

# Minutes, not seconds: 10,000 mixed jobs on 4 workers (bench/soak.py --jobs N for fewer).
soak: install
	$(PY) bench/soak.py

workers: install
	./celery_worker.sh start

clean:
	rm -rf var .pytest_cache .ruff_cache
