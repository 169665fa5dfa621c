# One venv for everything. torch==2.13.0 goes in first: the CPU build on disk satisfies the
# project's range, so nothing pulls CUDA wheels.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo lint test test-fast bench clean

$(BIN)/asma: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	@touch $(BIN)/asma

setup: $(BIN)/asma

demo: setup
	$(BIN)/asma demo

# the rooms' import order (pyproject.toml, [tool.importlinter])
lint: setup
	$(BIN)/lint-imports

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) runs/ .pytest_cache .import_linter_cache
