"""Ablation runner and report cost: a real small study on a local Ray, and the report of a large one.

    .venv/bin/python -m bench.bench_ablate [--quick] [--seeds 2] [--epochs 3] [--write-docs]

1. Runs ablations/quick.yaml (3 variants, smoke preset, synthetic set) with S seeds on a private
   local Ray (2 CPUs, 1 CPU per trial), into a temporary folder, and compares the wall time with
   the trials' own pretraining + evaluation time: the difference is Ray/Tune's cost per run.
2. Re-runs the finished study: the time to find that nothing is left (the resume path).
3. Writes the report of a hand-made study of 24 variants x 5 seeds x 2 data sets x 4 metrics.

Prints a Markdown section; --write-docs also writes it into docs/benchmarks.md (section "Ablation runner").
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from asma.ablation.runner import prepare_data, run_specs, run_study, study_dir
from asma.ablation.study_file import load_study
from asma.reports.report import write_report

from bench.benchdocs import provenance, publish

ROOT = Path(__file__).resolve().parents[1]

SECTION = "## Ablation runner"


def own_work(run_dir: Path) -> tuple[list[dict], float]:
    """A study's run records and its trials' own pretraining + evaluation time, summed."""
    records = [json.loads(p.read_text()) for p in sorted((run_dir / "runs").glob("*.json"))]
    return records, sum(r["pretrain"]["time_s"] + r["eval_time_s"] for r in records)


def bench_study(out: Path, seeds: int, epochs: int) -> dict:
    import ray

    where = provenance()
    ray.init(address="local", num_cpus=2, object_store_memory=300 * 1024**2, include_dashboard=False, log_to_driver=False)
    try:
        study = load_study(ROOT / "ablations" / "quick.yaml", seeds=seeds,
                           overrides=[f"train.epochs={epochs}", f"data.cache_dir={out / 'cache'}"])
        prepare_data(run_specs(study, study_dir(study, out)))  # the synthetic cache, outside both timings
        started = time.perf_counter()  # a process per trial first, then the default: trials reuse processes
        fresh_outcome = run_study(study, out_dir=out / "process_per_trial", reuse_processes=False)
        wall_fresh = time.perf_counter() - started
        started = time.perf_counter()
        outcome = run_study(study, out_dir=out)
        wall = time.perf_counter() - started
        started = time.perf_counter()
        again = run_study(study, out_dir=out)
        rerun = time.perf_counter() - started
    finally:
        ray.shutdown()
    records, work = own_work(outcome.run_dir)
    fresh, work_fresh = own_work(fresh_outcome.run_dir)
    started = time.perf_counter()
    write_report(outcome.run_dir)
    report = time.perf_counter() - started
    return {"where": where, "runs": len(records), "failed": len(outcome.failed), "wall_s": wall, "work_s": work,
            "overhead_per_run_s": (wall - work / 2) / max(1, len(records)), "rerun_s": rerun,
            "wall_fresh_s": wall_fresh, "work_fresh_s": work_fresh,
            "overhead_fresh_s": (wall_fresh - work_fresh / 2) / max(1, len(fresh)),
            "rerun_skipped": len(again.skipped), "report_s": report, "epochs": epochs, "seeds": seeds}


def bench_report(out: Path, variants: int = 24, seeds: int = 5) -> dict:
    rng = np.random.default_rng(0)
    run_dir = out / "big"
    (run_dir / "runs").mkdir(parents=True)
    names = [f"v{i:02d}" for i in range(variants)]
    runs = []
    for name in names:
        for dataset in ("ntu60", "ntu120"):
            for seed in range(seeds):
                run = f"{name}__{dataset}__seed{seed}"
                runs.append(run)
                metrics = {m: float(rng.normal(60, 3)) for m in ("knn", "linear", "finetune", "semi_1%")}
                (run_dir / "runs" / f"{run}.json").write_text(json.dumps(
                    {"run": run, "variant": name, "dataset": dataset, "split": "xsub", "seed": seed, "metrics": metrics}))
    study = {"name": "big", "source": "bench", "default": names[0], "seeds": list(range(seeds)),
             "protocols": ["knn", "linear", "finetune", "semi"], "runs": runs,
             "variants": {n: {"label": n, "default": n == names[0], "overrides": {}} for n in names},
             "factors": [{"name": f"factor {k}", "axis": "value", "variants": {n: float(i) for i, n in enumerate(names[k * 6:(k + 1) * 6])}}
                         for k in range(variants // 6)],
             "datasets": [{"name": "ntu60", "path": "x", "split": "xsub"}, {"name": "ntu120", "path": "y", "split": "xsub"}]}
    (run_dir / "study.json").write_text(json.dumps(study))
    started = time.perf_counter()
    files = write_report(run_dir)
    return {"runs": len(runs), "tables": len(files.tables), "plots": len(files.plots), "report_s": time.perf_counter() - started}


def markdown(study: dict, report: dict, command: str) -> str:
    where = study["where"]
    busy = "; the load exceeded the core count, so the times are upper bounds" if where.load > where.cores else ""
    return "\n".join([
        SECTION, "",
        f"Measured with `{command}` ({where.sentence()}{busy}). Study: ablations/quick.yaml (3 variants, smoke preset, "
        f"synthetic set) with {study['seeds']} seed(s), {study['epochs']} epoch(s), local Ray with 2 CPUs, 1 CPU per trial.", "",
        "| what | figure |", "| --- | --- |",
        f"| runs finished (failed) | {study['runs']} ({study['failed']}) |",
        f"| wall time of `asma ablate`, Ray start excluded | {study['wall_s']:.1f} s |",
        f"| trials' own pretraining + evaluation, summed | {study['work_s']:.1f} s |",
        f"| Ray/Tune cost per run: (wall - work / 2 CPUs) / runs | {study['overhead_per_run_s']:.1f} s |",
        f"| the same study with a process per trial (no reuse_actors): wall | {study['wall_fresh_s']:.1f} s |",
        f"| its trials' own work, summed; its cost per run | {study['work_fresh_s']:.1f} s; {study['overhead_fresh_s']:.1f} s |",
        f"| re-running the finished study (all {study['rerun_skipped']} skipped) | {study['rerun_s']:.2f} s |",
        f"| report of this study (md, tex, csv) | {study['report_s'] * 1000:.0f} ms |",
        f"| report of {report['runs']} hand-made runs: {report['tables']} tables, {report['plots']} plots | {report['report_s']:.2f} s |",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 1 epoch (about a minute)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true", help="write the section into docs/benchmarks.md")
    args = parser.parse_args()
    seeds, epochs = (1, 1) if args.quick else (args.seeds, args.epochs)
    command = ".venv/bin/python -m bench.bench_ablate" + (" --quick" if args.quick else
                                                          f" --seeds {seeds} --epochs {epochs}") + " --write-docs"
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    with tempfile.TemporaryDirectory(prefix="bench_ablate_") as tmp:
        study = bench_study(Path(tmp), seeds, epochs)
        report = bench_report(Path(tmp))
    text = markdown(study, report, command)
    publish(SECTION, text, args.write_docs)


if __name__ == "__main__":
    main()
