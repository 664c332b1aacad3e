# truelift: `make demo` and `make test` work on a fresh clone; each builds .venv itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= truelift-report

.PHONY: demo test lint typecheck pytest browser-deps coverage-study coverage-propensity bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/truelift demo --out $(OUT)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# the report's browser test needs headless Chromium (Debian package); without it the test skips, saying so
browser-deps:
	-bash scripts/ensure_chromium.sh

pytest: $(STAMP) browser-deps
	$(PY) -m pytest -m "not slow" -q

test: lint typecheck pytest

coverage-study: $(STAMP)
	$(PY) -m pytest -m slow -q -s

# the propensity design's study alone (ipw and aipw, ATE and ATT, on the optin scenario)
coverage-propensity: $(STAMP)
	$(PY) -m pytest -m slow -q -s tests/test_propensity_optin.py

$(VENV)/.bench-installed: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	touch $@

bench: $(VENV)/.bench-installed
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(OUT) test-artifacts
