# swast-bench: `make smoke` runs the main job at smoke scale, `make test` runs the tests.
# Both create .venv and install the project into it first (once; again when pyproject.toml changes).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install smoke test test-fast lint bench-selectors clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

smoke: install  ## one SWaST-cut run on scikit-learn's digits, seconds on a CPU, offline
	$(PY) -m harness.run gin/digits/swast_cut.gin

test: install  ## every test, the slow end-to-end ones included
	$(PY) -m pytest -m "slow or not slow"

test-fast: install  ## the fast tests only (seconds)
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check .

bench-selectors: install  ## selection time of every selector on CIFAR-shaped probes, and the probe pass
	$(PY) -m benchmarks.selector_speed

clean:
	rm -rf $(VENV) results/runs results/tables results/figures results/bench
