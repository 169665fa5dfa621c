"""What the `ray job submit` path costs: head start, a job's fixed overhead, an ablation as a job.

A token-authenticated head is started on 127.0.0.1 (tests/local_head.py, stopped by PID), and
a clean copy of the project (asma/, ablations/, pyproject.toml) is submitted with --working-dir:
  - a trivial job twice: the first uploads and unpacks the working dir, the second finds the same
    package cached (Ray keys it by content hash): the fixed cost of every submission;
  - unless --quick: `asma ablate ablations/quick.yaml --seeds 1` as a job, against the same command
    run directly with its private local Ray: what going through the job API adds to a study.

    .venv/bin/python -m bench.bench_job_submit [--quick] [--write-docs]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from tests.local_head import BIN, LocalHead  # the tests' local head: a benchmark of the same recipe

from bench.benchdocs import Provenance, provenance, publish

ROOT = Path(__file__).resolve().parents[1]

SECTION = "## Cluster: job submission"
PROJECT_FILES = ("asma", "ablations", "pyproject.toml")
RUNTIME_ENV = json.dumps({"env_vars": {"PYTHONUNBUFFERED": "1"}})


def project_copy(into: Path) -> tuple[Path, int]:
    """The files a user uploads, and the size of their zip (what goes over the wire)."""
    src = into / "src"
    for name in PROJECT_FILES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    archive = into / "src.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(src.rglob("*")):
            z.write(f, f.relative_to(src))
    return src, archive.stat().st_size


def timed_job(head: LocalHead, src: Path, job_id: str, *entrypoint: str) -> float:
    started = time.perf_counter()
    done = head.ray("job", "submit", "--address", head.dashboard, "--submission-id", job_id, "--working-dir",
                    str(src), "--runtime-env-json", RUNTIME_ENV, "--", *entrypoint, timeout=900)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or head.job_status(job_id) != "SUCCEEDED":
        raise RuntimeError(f"job {job_id} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds


def run(quick: bool) -> list[tuple[str, str]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="asma_bench_job_") as tmp:
        tmp = Path(tmp)
        src, zip_bytes = project_copy(tmp)
        rows.append(("working dir uploaded (zip)", f"{zip_bytes / 1024:.0f} KiB"))
        started = time.perf_counter()
        head = LocalHead(num_cpus=2).start()
        try:
            rows.append(("head start to job API ready", f"{time.perf_counter() - started:.1f} s"))
            trivial = ("python", "-c", "import asma")
            rows.append(("trivial job, first (upload + unpack)", f"{timed_job(head, src, 'bench-cold', *trivial):.1f} s"))
            rows.append(("trivial job, again (package cached)", f"{timed_job(head, src, 'bench-warm', *trivial):.1f} s"))
            if not quick:
                ablate = ("asma", "ablate", "ablations/quick.yaml", "--seeds", "1", "--address", "auto")
                job = timed_job(head, src, "bench-quick", *ablate, "--out", str(tmp / "job_runs"))
                rows.append(("quick ablation, 1 seed (3 runs), as a job", f"{job:.0f} s"))
        finally:
            left = head.stop()
            if left:
                print(f"warning: processes of the stopped head still run: {left}", file=sys.stderr)
        if not quick:
            env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
            started = time.perf_counter()
            subprocess.run([str(BIN / "asma"), "ablate", "ablations/quick.yaml", "--seeds", "1", "--out",
                            str(tmp / "direct_runs")], cwd=ROOT, env=env, check=True, capture_output=True)
            rows.append(("quick ablation, 1 seed, run directly (private local Ray)",
                         f"{time.perf_counter() - started:.0f} s"))
    return rows


def section(rows: list[tuple[str, str]], command: str, where: Provenance) -> str:
    lines = [
        SECTION, "",
        f"`ray job submit` to a local token-authenticated head (`{command}`; {where.sentence()}).",
        "", "| what | figure |", "| --- | --- |",
        *[f"| {what} | {figure} |" for what, figure in rows],
        "", "The direct run includes starting its private Ray; the job runs on a head that is already up. "
        "A job's fixed cost is the trivial job's time: submission, runtime-env setup, a driver process.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="only the fixed costs (about a minute), no ablation")
    p.add_argument("--write-docs", action="store_true", help=f"write the table into {SECTION} of docs/benchmarks.md")
    args = p.parse_args()
    where = provenance()
    rows = run(args.quick)
    command = ".venv/bin/python -m bench.bench_job_submit" + (" --quick" if args.quick else "") + " --write-docs"
    text = section(rows, command, where)
    publish(SECTION, text, args.write_docs)


if __name__ == "__main__":
    main()
