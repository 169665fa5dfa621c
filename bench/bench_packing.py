"""Packed trials: aggregate throughput of k pretraining trials sharing one node's CPUs or one GPU.

Each row runs k identical-budget trials at once through `asma tune` (`asma.search.run_search`,
random sampler over seeds, FIFO: no trial is stopped early), with resources `cpus = cores / k`
on the CPU rows and `gpus = 1 / k` on the GPU rows (`cpus = cores / k` beside it), then a second
wave of k, so the figure includes what a trial costs to start and finish (one trial before the
rows warms Ray's worker pool and the file caches and is not counted). Reported per k:

- sequences/s over all trials: pretraining sequences (trials x epochs x steps x batch) over the
  wall time from the first trial's start to the last one's end (Ray's start is excluded);
- trials finished per hour over the same wall time;
- the speed-up of both over k = 1.

Trials also run the per-epoch kNN proxy of a search, as a real search does.

    .venv/bin/python -m bench.bench_packing [--quick] [--write-docs]

On a machine without CUDA only the CPU rows run, and the section says so.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console

from asma.search.space import load_space
from asma.search.summary import trial_rows
from asma.search.tuner import run_search

from bench.benchdocs import Provenance, provenance, publish

SECTION = "## Packed trials"
# laptop sizes (16 -> 128 ST-GCN, T = 30, one person) on the synthetic set
QUICK = {"epochs": 1, "steps": 2, "batch": 16, "waves": 1, "gpu_ks": [1, 2]}
FULL = {"epochs": 2, "steps": 8, "batch": 64, "waves": 2, "gpu_ks": [1, 2, 4, 8]}


def cpu_ks(cores: int) -> list[int]:
    """k = 1, 2, 4, ... up to the cores (each trial keeps at least one)."""
    ks, k = [], 1
    while k <= cores:
        ks.append(k)
        k *= 2
    return ks


def space_file(folder: Path, name: str, k: int, waves: int, size: dict, cpus: float, gpus: float) -> Path:
    trials = k * waves
    raw = {"name": name, "base": "laptop",
           "overrides": {"out_dir": str(folder / "runs"), "data.cache_dir": str(folder / "cache"),
                         "train.batch_size": size["batch"], "train.threads": max(1, int(cpus)),
                         "train.device": "cuda" if gpus else "cpu"},
           "params": {"train.seed": {"type": "categorical", "choices": list(range(trials))}},
           # every epoch's proxy, as the published rows measured (a search's default is ASHA's rungs)
           "budget": {"trials": trials, "epochs": size["epochs"], "max_steps_per_epoch": size["steps"],
                      "proxy": "every_epoch"},
           "resources": {"cpus": cpus, "gpus": gpus}, "sampler": "random", "scheduler": "fifo"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def packed_row(folder: Path, device: str, k: int, cores: int, size: dict, console: Console) -> dict:
    cpus = cores / k
    gpus = 1.0 / k if device == "cuda" else 0.0
    space = load_space(space_file(folder, f"{device}_k{k}", k, size["waves"], size, cpus, gpus))
    outcome = run_search(space, concurrency=k, console=console)
    rows = trial_rows(outcome.results, space)
    done = [r for r in rows if r["status"] == "done"]
    if len(done) != len(rows):
        errors = [r["error"] for r in rows if r["error"]]
        raise RuntimeError(f"{device} k={k}: {len(rows) - len(done)} trial(s) did not finish: {errors[:2]}")
    starts = [r["finished_at"] - r["time_s"] for r in rows]
    wall = max(r["finished_at"] for r in rows) - min(starts)
    sequences = len(rows) * size["epochs"] * size["steps"] * size["batch"]
    return {"device": device, "k": k, "cpus": cpus, "gpus": gpus, "trials": len(rows), "wall_s": wall,
            "seq_per_s": sequences / wall, "trials_per_h": 3600 * len(rows) / wall,
            "trial_s": sum(r["time_s"] for r in rows) / len(rows)}


def report(rows: list[dict], command: str, quick: bool, where: Provenance, cuda: bool) -> str:
    base = {r["device"]: r for r in rows if r["k"] == 1}
    size = QUICK if quick else FULL
    lines = [SECTION, "",
             f"`{command}`; {where.sentence()}. Laptop sizes on the synthetic set, batch {size['batch']}, "
             f"{size['epochs']} epochs x {size['steps']} steps per trial, {size['waves']} wave(s) of k trials, "
             "per-epoch kNN proxy on.", "",
             "| device | k trials at once | resources per trial | trials | wall | sequences/s (all trials) | "
             "trials/h | mean trial time | speed-up over k = 1 |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        share = f"{r['cpus']:g} CPU" + (f", {r['gpus']:g} GPU" if r["gpus"] else "")
        speed = r["seq_per_s"] / base[r["device"]]["seq_per_s"]
        lines.append(f"| {r['device']} | {r['k']} | {share} | {r['trials']} | {r['wall_s']:.0f} s | "
                     f"{r['seq_per_s']:.1f} | {r['trials_per_h']:.0f} | {r['trial_s']:.1f} s | {speed:.2f}x |")
    lines.append("")
    if not cuda:
        lines += ["No GPU was available where this ran: the GPU rows (k = 1, 2, 4, 8 trials per GPU, target "
                  "aggregate >= 4x one trial's on an H200) are still to be measured.", ""]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 epoch x 2 steps, batch 16, one wave")
    p.add_argument("--write-docs", action="store_true", help=f"write the figures into docs/benchmarks.md ({SECTION})")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="CPUs the trials share (default: all)")
    args = p.parse_args()
    import ray
    import torch

    from asma.cluster.ray_session import init_ray

    console = Console()
    where = provenance()
    size = QUICK if args.quick else FULL
    cuda = torch.cuda.is_available()
    plan = [("cpu", k) for k in cpu_ks(args.cores)] + ([("cuda", k) for k in size["gpu_ks"]] if cuda else [])
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_packing_") as tmp:
        init_ray(num_cpus=args.cores, num_gpus=1 if cuda else 0)
        warm = dict(size, waves=1)  # Ray's worker pool, imports and file caches warm: not a row
        packed_row(Path(tmp) / "warm-up", "cpu", 1, args.cores, warm, console)
        for device, k in plan:
            started = time.perf_counter()
            rows.append(packed_row(Path(tmp), device, k, args.cores, size, console))
            console.print(f"{device} k={k}: {rows[-1]['seq_per_s']:.1f} sequences/s "
                          f"({time.perf_counter() - started:.0f} s)", highlight=False)
        ray.shutdown()
    command = ".venv/bin/python -m bench.bench_packing" + (" --quick" if args.quick else "") + " --write-docs"
    text = report(rows, command, args.quick, where, cuda)
    publish(SECTION, text, args.write_docs, show=lambda t: console.print(t, highlight=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
