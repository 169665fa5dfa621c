"""bench/bench_epoch.py runs the real loop in both precisions and writes its section."""
from __future__ import annotations

from bench.bench_epoch import main


def test_the_epoch_benchmark_times_both_precisions_and_writes_its_section(tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## Other\n\nkept\n")
    assert main(["--data", "synthetic", "--base", "smoke", "--quick", "--threads", "1", "--write-docs",
                 "--write", str(docs), "--set", f"data.cache_dir={tmp_path / 'cache'}"]) == 0
    text = docs.read_text()
    assert "## Other\n\nkept" in text and "## Pretraining epoch" in text
    section = text.split("## Pretraining epoch", 1)[1]
    assert "| float32 |" in section and "| bfloat16 |" in section and "each round times the first 2 steps" in section  # 76 clips: 2 full batches
    assert "Reproduce: `.venv/bin/python -m bench.bench_epoch --data synthetic --base smoke" in section
