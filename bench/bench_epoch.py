"""A pretraining epoch of a prepared set, the whole loop: float32 against bfloat16, side by side.

    .venv/bin/python -m bench.bench_epoch --data data/msrc12 [--base real] [--set KEY=VALUE ...]
        [--threads 2] [--rounds 2] [--steps N] [--write-docs]

The loop is the one every run trains with (asma.training.loop.pretrain, in a LocalRuntime): data
loading and augmentation, both views' masks, forward, backward, Adam. No per-epoch proxy (`proxy`
off) and no checkpoint reading: what one epoch of a study's pretraining costs. The precisions
alternate round by round, so both see the same load; each round trains one epoch from the same
initial weights (`--steps N`: the first N steps only, scaled to the epoch's step count). The figures
are printed; --write-docs writes the '## Pretraining epoch' section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from asma.config.loading import load_config
from asma.training.data import build_run_data
from asma.training.loop import pretrain
from asma.training.precision import cpu_description
from asma.training.runtime import LocalRuntime
from bench.benchdocs import DOCS, Provenance, provenance, write_benchmark_section

SECTION = "## Pretraining epoch"
PRECISIONS = ("float32", "bfloat16")
# The MSRC-12 study's pretraining (ablations/msrc12.yaml): the `real` preset, ASMa's two views, joints cut
DEFAULT_SET = ["masking.views=[a,b]", "masking.sample_joints=cut"]


def time_epoch(base: str, overrides: list[str], precision: str, steps: int | None) -> dict:
    """One epoch (or its first `steps` steps) of the pretraining `base` + `overrides` configures."""
    cfg = load_config(base, [*overrides, "train.epochs=1", f"train.precision={precision}",
                             f"train.max_steps_per_epoch={steps or 0}"])
    data = build_run_data(cfg)
    full_steps = len(data.pretrain) // cfg.train.batch_size  # the loader drops the last partial batch
    with tempfile.TemporaryDirectory() as run_dir:
        runtime = LocalRuntime(run_dir, cfg.train.device, 1, cfg.data.loader_workers)
        started = time.perf_counter()
        result = pretrain(cfg, data, runtime, None, proxy=None)
        wall = time.perf_counter() - started
    epoch = result.history[-1]
    ran = min(steps, full_steps) if steps else full_steps
    return {"epoch_s": epoch["epoch_time_s"] * full_steps / ran, "clips_per_s": epoch["samples_per_s"],
            "wall_s": wall, "steps": ran, "full_steps": full_steps, "clips": len(data.pretrain),
            "batch": cfg.train.batch_size}


def measure(base: str, overrides: list[str], rounds: int, steps: int | None) -> dict[str, dict]:
    runs: dict[str, list[dict]] = {p: [] for p in PRECISIONS}
    for _ in range(rounds):
        for precision in PRECISIONS:
            runs[precision].append(time_epoch(base, overrides, precision, steps))
    out = {}
    for precision, rs in runs.items():
        out[precision] = {**rs[-1], "epoch_s": statistics.median(r["epoch_s"] for r in rs),
                          "clips_per_s": statistics.median(r["clips_per_s"] for r in rs),
                          "rounds_epoch_s": [round(r["epoch_s"], 1) for r in rs]}
    return out


def markdown(args, timed: dict, started: Provenance, command: str, cpu: dict) -> str:
    f32, b16 = timed["float32"], timed["bfloat16"]
    lines = [
        SECTION, "",
        f"One pretraining epoch of `{args.data}` ({f32['clips']} training clips, {f32['full_steps']} steps of "
        f"{f32['batch']}), the whole loop (data, augmentation, both views' masks, forward, backward, Adam; no "
        f"proxy): the `{args.base}` preset with {', '.join(f'`{o}`' for o in args.overrides)}, "
        f"{args.threads} thread(s), CPU (torch {torch.__version__}; {cpu.get('cpu', {}).get('model', '?')}, "
        f"{cpu.get('cpu', {}).get('capability', '?')}). The precisions alternate for {args.rounds} rounds, medians "
        f"over rounds" + (f"; each round times the first {f32['steps']} steps, scaled to the epoch" if args.steps else "")
        + f" ({started.sentence()}).", "",
        "| precision | epoch (s) | clips/s | rounds (s) | 50 epochs |",
        "| --- | ---: | ---: | --- | ---: |",
    ]
    for precision, r in timed.items():
        lines.append(f"| {precision} | {r['epoch_s']:.1f} | {r['clips_per_s']:.0f} | "
                     f"{', '.join(str(x) for x in r['rounds_epoch_s'])} | {50 * r['epoch_s'] / 60:.0f} min |")
    lines += ["", f"bfloat16 takes {b16['epoch_s'] / f32['epoch_s']:.2f}x float32's time here. On a CPU that "
              "emulates bfloat16 (no AVX512-BF16 or AMX) it is many times slower: use float32 there "
              "(asma warns before such a run starts).", "", f"Reproduce: `{command}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="a prepared set folder, e.g. data/msrc12")
    p.add_argument("--base", default="real", help="preset or config file (default real)")
    p.add_argument("--set", dest="more", action="append", default=[], metavar="KEY=VALUE",
                   help=f"overrides after {' '.join(DEFAULT_SET)} (the MSRC-12 study's)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=None, help="time the first N steps of each epoch, scaled up")
    p.add_argument("--quick", action="store_true", help="1 round of 3 steps: a check that it runs")
    p.add_argument("--write-docs", action="store_true", help=f"write the '{SECTION[3:]}' section (without it: print only)")
    p.add_argument("--write", type=Path, default=DOCS, help=f"the markdown file --write-docs writes (default {DOCS})")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.steps = 1, 3
    args.overrides = [*DEFAULT_SET, f"data.path={args.data}", f"train.threads={args.threads}", "train.device=cpu",
                      *args.more]
    torch.set_num_threads(args.threads)
    started = provenance()
    timed = measure(args.base, args.overrides, args.rounds, args.steps)
    cpu = {"cpu": cpu_description()}
    print(f"{args.data}, {args.base} + {' '.join(args.overrides)} ({started.sentence()})")
    for precision, r in timed.items():
        print(f"{precision}: {r['epoch_s']:.1f} s per epoch ({r['clips_per_s']:.0f} clips/s; rounds {r['rounds_epoch_s']})")
    command = (f".venv/bin/python -m bench.bench_epoch --data {args.data} --base {args.base} --threads {args.threads} "
               f"--rounds {args.rounds}" + (f" --steps {args.steps}" if args.steps else "")
               + "".join(f" --set {m}" for m in args.more) + " --write-docs")
    if args.write_docs:
        write_benchmark_section(SECTION, markdown(args, timed, started, command, cpu), args.write)
        print(f"wrote the '{SECTION[3:]}' section of {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
