"""What Tune costs, and what TPE + ASHA saves, on the synthetic set.

1. Overhead: the same K trials (configs drawn by a seeded random sampler) run directly, one after
   the other in this process (`pretrain_locally`), and through `asma.search` (Tune, one trial at a
   time, FIFO). Per-trial overhead = (Tune wall time - direct wall time) / K; Ray's start is
   reported apart.
2. Search efficiency: a grid over a small masking space (every point, the full epoch budget)
   against TPE + ASHA with the same number of trials over the same space: the best kNN top-1 of a
   trial that ran the full budget (an early-stopped trial's kNN is of fewer epochs, so not counted),
   the epochs and trial-seconds each spends, and what TPE + ASHA spent (in completion order) until
   a full-budget trial first matched the grid's best.

    .venv/bin/python -m bench.bench_tune [--quick] [--write-docs]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console

from asma.search.compare import compare_searches
from asma.search.space import load_space
from asma.search.summary import trial_rows, write_summary
from asma.search.tuner import run_search

from asma.evaluation.proxy import proxy_knn
from bench.benchdocs import Provenance, provenance, publish

SECTION = "## Tune"
# overhead trials x epochs (steps each), then the grid's joint ratios (x 2 modes x 3 lrs) x search epochs
QUICK = {"trials": 3, "epochs": 2, "steps": 1, "ratios": [0.2, 0.5], "search_epochs": 3}
FULL = {"trials": 6, "epochs": 3, "steps": 2, "ratios": [0.15, 0.3, 0.45, 0.6], "search_epochs": 6}


def space_yaml(folder: Path, name: str, params: dict, trials: int, epochs: int, steps: int, **extra) -> Path:
    raw = {"name": name, "base": "smoke",
           "overrides": {"out_dir": str(folder / "runs"), "data.cache_dir": str(folder / "cache"),
                         "train.batch_size": 16, "train.threads": 1},
           "params": params, "budget": {"trials": trials, "epochs": epochs, "max_steps_per_epoch": steps,
                                        **extra.pop("budget", {})}, **extra}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def overhead(folder: Path, trials: int, epochs: int, steps: int, console: Console) -> dict:
    import ray

    from asma.training.local import pretrain_locally

    params = {"masking.specs.a.joints.ratio": {"type": "float", "low": 0.1, "high": 0.6},
              "optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}
    space = load_space(space_yaml(folder, "overhead", params, trials, epochs, steps, sampler="random", scheduler="fifo"))
    started = time.perf_counter()
    ray.init(address="local", num_cpus=1, object_store_memory=300 * 1024**2, include_dashboard=False)
    ray_start = time.perf_counter() - started
    started = time.perf_counter()
    outcome = run_search(space, concurrency=1, console=console)
    tune_s = time.perf_counter() - started
    rows = trial_rows(outcome.results, space)
    started = time.perf_counter()
    for i, row in enumerate(rows):  # the very configs Tune ran, directly
        pretrain_locally(space.trial_config(row["params"]), run_dir=folder / "direct" / str(i), quiet=True, proxy=proxy_knn)
    direct_s = time.perf_counter() - started
    ray.shutdown()
    return {"trials": trials, "epochs": epochs, "ray_start_s": ray_start, "tune_s": tune_s, "direct_s": direct_s,
            "per_trial_s": (tune_s - direct_s) / trials, "in_trial_s": sum(r["time_s"] for r in rows)}


def efficiency(folder: Path, epochs: int, steps: int, ratios: list[float], console: Console) -> dict:
    import ray

    params = {"masking.specs.a.joints.ratio": {"type": "categorical", "choices": ratios},
              "masking.specs.a.joints.mode": {"type": "categorical", "choices": ["degree", "threshold"]},
              "optim.lr": {"type": "categorical", "choices": [0.0005, 0.002, 0.008]}}
    trials = len(ratios) * 2 * 3
    ray.init(address="local", num_cpus=2, object_store_memory=300 * 1024**2, include_dashboard=False)
    out, summaries = {}, {}
    for name, extra in (("grid", {"sampler": "grid", "scheduler": "fifo"}),
                        ("tpe_asha", {"sampler": "tpe", "budget": {"grace_period": 1, "reduction_factor": 3}})):
        space = load_space(space_yaml(folder, name, params, trials, epochs, steps, **extra))
        started = time.perf_counter()
        outcome = run_search(space, concurrency=2, console=console)
        summaries[name] = write_summary(outcome.results, space, outcome.run_dir)  # what `asma tune` writes
        out[name] = {"wall_s": time.perf_counter() - started}
    ray.shutdown()
    # `asma tune-compare`'s figures: full-budget trials only; tolerance 0 = TPE's first trial at the grid's best
    comparison = compare_searches(summaries["grid"], summaries["tpe_asha"], tolerance=0.0)
    out["grid"].update(comparison["reference"])
    out["tpe_asha"].update(comparison["candidate"])
    out.update(trials=trials, epochs_per_trial=epochs, reached=comparison["reached"])
    return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def report(over: dict, eff: dict, command: str, quick: bool, where: Provenance) -> str:
    g, t = eff["grid"], eff["tpe_asha"]
    reached = (f"TPE + ASHA's first full-budget trial to match the grid's best came after {eff['reached']['epochs']} "
               f"epochs, {eff['reached']['trial_s']:.0f} trial-seconds." if eff["reached"]
               else f"No full-budget TPE + ASHA trial reached the grid's best (its best: {_pct(t['best'])}).")
    saved = 100 * (1 - t["epochs"] / g["epochs"]) if g["epochs"] else float("nan")
    lines = [
        SECTION, "",
        f"`{command}`, synthetic set, `smoke` preset{' (quick)' if quick else ''}; {where.sentence()}.", "",
        "| what | figure |", "| --- | --- |",
        f"| Ray start (`ray.init`, 1 CPU) | {over['ray_start_s']:.1f} s |",
        f"| {over['trials']} trials x {over['epochs']} epochs through Tune (one at a time) | {over['tune_s']:.1f} s |",
        f"| the same {over['trials']} configs run directly, one after the other | {over['direct_s']:.1f} s |",
        f"| Tune overhead per trial | {over['per_trial_s']:.1f} s |", "",
        f"Grid vs TPE + ASHA over the same {eff['trials']}-point space (joint ratio x mode x lr), "
        f"{eff['trials']} trials each, {eff['epochs_per_trial']} epochs per trial, 2 at a time:", "",
        "| search | best kNN top-1 (full-budget trials) | full-budget trials | epochs spent | trial-seconds | wall |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| grid (every point, full budget) | {_pct(g['best'])} | {g['full_budget']} | {g['epochs']} | {g['trial_s']:.0f} | "
        f"{g['wall_s']:.0f} s |",
        f"| TPE + ASHA (grace 1, factor 3) | {_pct(t['best'])} | {t['full_budget']} | {t['epochs']} | {t['trial_s']:.0f} | "
        f"{t['wall_s']:.0f} s |",
        "", f"ASHA stopped {t['stopped_early']} of {eff['trials']} trials early; TPE + ASHA spent {saved:.0f}% fewer "
        f"epochs than the grid. {reached} One run of each search, one seed.", ""]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK['trials']} overhead trials x {QUICK['epochs']} epochs; a "
                        f"{len(QUICK['ratios']) * 6}-point grid x {QUICK['search_epochs']} epochs")
    p.add_argument("--write-docs", action="store_true", help="write the figures into docs/benchmarks.md (## Tune)")
    args = p.parse_args()
    console = Console()
    where = provenance()
    size = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="bench_tune_") as tmp:
        folder = Path(tmp)
        over = overhead(folder, size["trials"], size["epochs"], size["steps"], console)
        eff = efficiency(folder, size["search_epochs"], size["steps"], size["ratios"], console)
    command = ".venv/bin/python -m bench.bench_tune" + (" --quick" if args.quick else "") + " --write-docs"
    text = report(over, eff, command, args.quick, where)
    publish(SECTION, text, args.write_docs, show=lambda t: console.print(t, highlight=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
