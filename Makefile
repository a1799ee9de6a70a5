# keras-audit: two commands on a fresh machine with Python 3.11 and make.
#   make demo   set up .venv (core install) and audit the bundled example models
#   make test   set up .venv with the test extras and run the whole suite

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint examples clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	@touch $@ $(VENV)/.core

demo: $(VENV)/.core
	@echo "== keras-audit on examples/models (static mode: no tensorflow needed) =="
	$(BIN)/audit examples/models --verbose --exit-zero
	$(BIN)/audit examples/models --exit-zero \
		-o html:demo-report.html -o json:demo-report.json -o sarif:demo-report.sarif
	@echo "== HTML report: demo-report.html (also demo-report.json, demo-report.sarif) =="

# The whole suite on the TensorFlow backend, then the tests of live models, the callbacks
# and the live fixer once more on JAX (Keras fixes its backend per process).
test: $(VENV)/.test
	$(BIN)/python -m pytest -n 2 --dist load
	KERAS_BACKEND=jax $(BIN)/python -m pytest -n 2 --dist load -m backends

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

examples: $(VENV)/.test
	$(BIN)/python examples/build_examples.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo-report.* test-artifacts
