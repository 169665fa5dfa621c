"""Benchmarks: each `bench_*.py` times one part of asma and, with `--write-docs`, rewrites its own
section of docs/benchmarks.md. Run from the repository root as `python -m bench.bench_x` (`--quick`
for a check that it runs: `make bench`). Analyses behind claims in the docs live in experiments/."""
