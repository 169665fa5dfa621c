# One venv for everything. torch==2.13.0 goes in first: the CPU build on disk satisfies the
# project's range, so nothing pulls CUDA wheels.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo lint test test-fast bench bench-ray clean

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
	$(BIN)/ruff check asma bench experiments tests
	$(BIN)/lint-imports

test: setup
	$(BIN)/python -m pytest -q --durations=15

# the inner loop: every test that starts neither Ray nor another process (docs/development.md)
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

# Each benchmark's quick form: a check that it runs, printed, no docs written (the measured runs and
# their --write-docs commands are beside their figures in docs/benchmarks.md). `bench`: those that
# need neither Ray nor a prepared data set; `bench-ray`: those that start a local Ray (a minute or
# more each). bench_proxy and bench_epoch read a prepared set: python -m bench.bench_proxy --data
# data/msr_action3d, python -m bench.bench_epoch --data data/msrc12
BENCH_QUICK = "bench_data --files 20 --frames 30" "bench_student --quick" "bench_step --quick" \
	"bench_asma_step --quick" "bench_eval --quick"
BENCH_RAY = "bench_ray_train --quick" "bench_ablate --quick" "bench_tune --quick" "bench_packing --quick" \
	"bench_job_submit --quick"

bench: setup
	@for b in $(BENCH_QUICK); do echo "== python -m bench.$$b"; $(BIN)/python -m bench.$$b || exit 1; done

bench-ray: setup
	@for b in $(BENCH_RAY); do echo "== python -m bench.$$b"; $(BIN)/python -m bench.$$b || exit 1; done

clean:
	rm -rf $(VENV) runs/ .pytest_cache .import_linter_cache
