# robusta-bench: every target sets itself up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test demo bench clean

install: $(STAMP)

# torch is pinned and installed first: on these machines torch==2.13.0 is a
# local CPU build, while an open range would pull gigabytes of CUDA wheels.
# The package itself only asks for a range (pyproject.toml: torch>=2.5,<3), which
# this pinned torch satisfies, so pip keeps it.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(PY) -m pytest -q tests

# The demo trains with the 'demo' recipe (docs/detectors.md, "Training recipes"): each
# detector's default recipe with 200 epochs, lr 5e-4 and batch 8, because the paper's and the
# official recipes give ~50 optimiser steps on the demo's ~24 training videos.
demo: install
	$(PY) -m robusta_bench.demo --out demo_out

bench: install
	$(PY) benchmarks/corruptions.py
	$(PY) benchmarks/extract.py
	$(PY) benchmarks/store_read.py
	$(PY) benchmarks/evaluate.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache
