"""ASMa's two-encoder pretraining step against a one-encoder step, at the same batch and sizes.

    .venv/bin/python -m bench.bench_asma_step [--batch 32] [--threads 1] [--rounds 9] [--write-docs]

Steps (forward, backward, Adam), `laptop` preset sizes on MSR Action3D's 20 joints, one person:
- one encoder with PSTL's view (`masking.views=[pstl]`: CSM joints cut out per batch, MATM frames);
- one encoder with ASMa's view A (`[a]`);
- ASMa (`[a, b]`) with `masking.sample_joints=zero` (the default, and the only way up to 50ac1dc);
- ASMa with `masking.sample_joints=cut`: each sample's masked joints cut out, as PSTL's view does.
The steps and an fp32 matmul probe alternate round by round on one input batch, so all see the
same load; a step's ratio is taken to the PSTL step of the same round (median over rounds). FLOPs
by torch.utils.flop_counter. The figures are printed; --write-docs writes the '## ASMa step'
section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from asma.config.loading import load_config
from asma.models.pretrainer import MaskedPretrainer
from asma.skeleton.layout import load_layout
from asma.training.loop import make_optimizer
from bench.bench_step import Stopwatch, time_interleaved
from bench.benchdocs import DOCS, Provenance, provenance, write_benchmark_section
from bench.stepcost import MatmulProbe, matmul_share, step_flops

SECTION = "## ASMa step"
LAYOUT = "msr_action3d"
STEPS = {
    "one encoder, PSTL's view (`masking.views=[pstl]`)": ["masking.views=[pstl]"],
    "one encoder, view A (`[a]`)": ["masking.views=[a]"],
    "ASMa (`[a, b]`, `sample_joints=zero`)": ["masking.views=[a,b]", "masking.sample_joints=zero"],
    "ASMa (`[a, b]`, `sample_joints=cut`)": ["masking.views=[a,b]", "masking.sample_joints=cut"],
}


def prepare(overrides: list[str], x: torch.Tensor, threads: int):
    cfg = load_config("laptop", overrides + [f"train.threads={threads}"])
    torch.manual_seed(0)
    model = MaskedPretrainer(cfg, load_layout(LAYOUT)).train()
    optimizer = make_optimizer(model.parameters(), cfg.optim)
    generator = torch.Generator().manual_seed(0)

    def step():
        out = model(x, generator)
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        optimizer.step()

    return step


def measure(batch: int, threads: int, rounds: int, warmup: int) -> tuple[dict, dict, MatmulProbe]:
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    data = load_config("laptop", []).data
    x = (torch.randn(batch, 3, data.window, load_layout(LAYOUT).num_joints, data.persons, generator=g) * 0.02).cumsum(2)
    steps = {name: prepare(overrides, x, threads) for name, overrides in STEPS.items()}
    flops = {name: step_flops(step) for name, step in steps.items()}
    probe = MatmulProbe()
    timed = time_interleaved({**{n: (s, Stopwatch()) for n, s in steps.items()}, "matmul": (probe, Stopwatch())},
                             rounds, warmup)
    rate = timed.pop("matmul")
    base = timed[next(iter(STEPS))]
    for name, r in timed.items():
        r["flops"] = flops[name]
        r["ratio"] = statistics.median(a / b for a, b in zip(r["rounds_s"], base["rounds_s"]))
        r["ratio_cpu"] = statistics.median(a / b for a, b in zip(r["rounds_cpu_s"], base["rounds_cpu_s"]))
        r["share"] = matmul_share(r["flops"], r["rounds_s"], probe.flops, rate["rounds_s"])
        r["share_cpu"] = matmul_share(r["flops"], r["rounds_cpu_s"], probe.flops, rate["rounds_cpu_s"])
    return timed, rate, probe


def markdown(args, timed: dict, rate: dict, probe: MatmulProbe, started: Provenance, command: str) -> str:
    cfg = load_config("laptop", [])
    e, proj = cfg.encoder, cfg.projector
    lines = [
        SECTION, "",
        f"One pretraining step (forward, backward, Adam), `laptop` preset: ST-GCN {e.base_channels}->{e.feature_dim}, "
        f"{e.depth} blocks, projector {proj.layers} x {proj.dim}, T={cfg.data.window}, {LAYOUT} (20 joints), M={cfg.data.persons}, batch "
        f"{args.batch}, {args.threads} thread(s), CPU (torch {torch.__version__}). The steps and a {probe.size}^3 "
        f"fp32 matmul alternate for {args.rounds} rounds after {args.warmup} warm-up; ratios are to the PSTL-view "
        f"step of the same round, medians over rounds ({started.sentence()}: compare the rows, not the absolute "
        f"numbers).", "",
        "| step | GFLOP | FLOPs vs one encoder (PSTL) | wall (s) | CPU (s) | time vs one encoder (PSTL), wall "
        "| (CPU) | share of matmul rate, wall | (CPU) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    base_flops = timed[next(iter(STEPS))]["flops"]
    for name, r in timed.items():
        lines.append(f"| {name} | {r['flops'] / 1e9:.2f} | {r['flops'] / base_flops:.2f}x | {r['step_s']:.3f} | "
                     f"{r['cpu_s']:.3f} | {r['ratio']:.2f}x | {r['ratio_cpu']:.2f}x | {100 * r['share']:.0f}% | "
                     f"{100 * r['share_cpu']:.0f}% |")
    lines += ["", f"Matmul probe: {probe.flops / rate['step_s'] / 1e9:.1f} GFLOP/s wall, "
              f"{probe.flops / rate['cpu_s'] / 1e9:.1f} GFLOP per CPU-s (medians). What `cut` and `zero` do: "
              "docs/method.md, 'Per-sample vs per-batch masks'.", "",
              f"Reproduce: `{command}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="batch 8, 2 rounds: a check that it runs")
    p.add_argument("--write-docs", action="store_true", help=f"write the '{SECTION[3:]}' section (without it: print only)")
    p.add_argument("--write", type=Path, default=DOCS, help=f"the markdown file --write-docs writes (default {DOCS})")
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.rounds = 8, 2
    started = provenance()
    timed, rate, probe = measure(args.batch, args.threads, args.rounds, args.warmup)
    print(f"matmul probe: {probe.flops / rate['step_s'] / 1e9:.1f} GFLOP/s wall ({started.sentence()})")
    for name, r in timed.items():
        print(f"{name}: {r['flops'] / 1e9:.2f} GFLOP, {r['step_s']:.3f} s wall, {r['cpu_s']:.3f} CPU-s, "
              f"{r['ratio']:.2f}x wall / {r['ratio_cpu']:.2f}x CPU of one encoder, "
              f"{100 * r['share']:.0f}% of the matmul rate")
    command = (f".venv/bin/python -m bench.bench_asma_step --batch {args.batch} --threads {args.threads} "
               f"--rounds {args.rounds} --warmup {args.warmup} --write-docs")
    if args.write_docs:
        write_benchmark_section(SECTION, markdown(args, timed, rate, probe, started, command), args.write)
        print(f"wrote the '{SECTION[3:]}' section of {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
