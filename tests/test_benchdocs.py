"""bench/benchdocs.py: a benchmark rewrites only its own `## ` section of docs/benchmarks.md."""
import os
import subprocess
from pathlib import Path

import pytest

from bench.benchdocs import provenance, publish, write_benchmark_section

DOCS = ("# Benchmarks\n\nIntro.\n\n"
        "## Data\n\nold data\n\n"
        "## Data loading\n\nkept\n\n### Sub\n\n"
        "## Tune\n\nold tune\n")


def test_replaces_the_section_and_keeps_the_others_byte_for_byte(tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text(DOCS)
    write_benchmark_section("## Data", "## Data\n\nnew data\n\n\n", docs)
    assert docs.read_text() == DOCS.replace("old data", "new data")
    write_benchmark_section("## Tune", "## Tune\n\nnew tune", docs)  # the last section, no trailing newline
    assert docs.read_text() == DOCS.replace("old data", "new data").replace("old tune", "new tune")


def test_appends_a_missing_section_and_creates_a_missing_file(tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text(DOCS)
    write_benchmark_section("## Student", "table", docs)  # heading added when the text lacks it
    assert docs.read_text() == DOCS + "\n## Student\n\ntable\n"
    fresh = tmp_path / "sub" / "benchmarks.md"
    write_benchmark_section("## Ray Train", "## Ray Train\n\nrows\n", fresh)
    assert fresh.read_text() == "# Benchmarks\n\n## Ray Train\n\nrows\n"


def test_bench_scripts_write_docs_only_with_write_docs():
    """A plain `python -m bench.X` run prints; only `--write-docs` (off by default) rewrites docs/benchmarks.md:
    each write is under `if args.write_docs:` or is `publish(..., args.write_docs, ...)`, whose own
    write is under `if write_docs:`."""
    import ast
    import re

    writers = []
    for path in sorted((Path(__file__).resolve().parents[1] / "bench").glob("*.py")):
        tree = ast.parse(path.read_text())
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        guard = "write_docs" if path.name == "benchdocs.py" else "args.write_docs"
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "write_benchmark_section"]
        for call in calls:
            node, guarded = call, False
            while node in parents and not guarded:
                node = parents[node]
                guarded = isinstance(node, ast.If) and ast.unparse(node.test) == guard
            assert guarded, f"{path.name}:{call.lineno} writes docs outside `if {guard}:`"
        published = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "publish"]
        for call in published:
            assert ast.unparse(call.args[2]) == "args.write_docs", f"{path.name}:{call.lineno}"
        if (calls or published) and path.name != "benchdocs.py":
            writers.append(path.name)
            assert re.search(r'"--write-docs", action="store_true"', path.read_text()), path.name
    assert {"bench_step.py", "bench_ablate.py", "bench_data.py"} <= set(writers)


@pytest.mark.slow  # git, as a subprocess
def test_provenance_names_this_checkout_and_machine():
    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    where = provenance()
    assert where.commit.startswith(head.stdout.strip()) and where.cores == os.cpu_count()
    assert where.load >= 0 and len(where.date) == 10
    assert where.sentence().startswith(f"commit {where.commit}, {where.date}, ") and "load average" in where.sentence()


def test_publish_shows_the_section_and_writes_it_only_when_asked(tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text(DOCS)
    shown = []
    publish("## Tune", "## Tune\n\nnew tune", False, shown.append, docs)
    assert shown == ["## Tune\n\nnew tune"] and docs.read_text() == DOCS
    publish("## Tune", "## Tune\n\nnew tune", True, shown.append, docs)
    assert docs.read_text() == DOCS.replace("old tune", "new tune") and len(shown) == 2
