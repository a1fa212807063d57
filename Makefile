# The two commands of the README: `make demo` and `make test`. Each creates .venv on first use
# and reuses it after (the stamp is rebuilt only when pyproject.toml or this file changes).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.zeroskip-installed
# A CPU build of torch is on disk here; elsewhere pick your build, e.g. `make test TORCH_SPEC=torch`.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= torch,dev,report,bench,dist
PYTEST_ARGS ?= -n 2

.PHONY: demo test setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/zeroskip demo

test: $(STAMP)
	$(BIN)/ruff check src tests
	ZEROSKIP_VERIFY=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
