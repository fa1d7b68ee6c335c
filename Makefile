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

demo: install
	$(PY) -m robusta_bench.demo --out demo_out

bench: install
	$(PY) benchmarks/corruptions.py
	$(PY) benchmarks/extract.py
	$(PY) benchmarks/store_read.py
	$(PY) benchmarks/evaluate.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache
