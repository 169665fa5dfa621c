"""Pretraining step throughput: our ST-GCN + Barlow Twins step against PSTL's own code.

Both run on this CPU, in one process, on the same input batch, at PSTL's published sizes
(ST-GCN 16 -> 256, 10 blocks, dropout 0.5; projector 3 x 6144; lambda 2e-4; Adam 5e-3; T = 50,
M = 2). Ours runs the single-view PSTL configuration (`masking.views=[pstl]`: anchor, CSM spatial
stream, MATM temporal stream); PSTL's is the body of `BTProcessor.train_epoch` in its
procedure.py, calling its own model.py functions and ST-GCN module.

PSTL's code is not part of this project: clone it anywhere and pass the folder,

    git clone https://github.com/YujieOuO/PSTL /tmp/pstl
    .venv/bin/pip install einops        # PSTL's model.py imports it; not a project dependency
    .venv/bin/python -m bench.bench_step --pstl /tmp/pstl

PSTL needs a GPU (`.cuda()` everywhere) and sacred (config capture). On CPU both are shimmed at
run time: `.cuda()` becomes the identity and sacred's `ex.capture` fills PSTL's config.py values.
With `--device cuda` both codes run on the GPU and PSTL's `.cuda()` calls are left alone; the
figures go to their own section ('Pretraining step on GPU'). Without --pstl (or $PSTL_DIR) only
our step is measured. The figures are printed; --write-docs also writes them into docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from asma.config.loading import load_config
from asma.models import pretrainer as pretrainer_module
from asma.models.pretrainer import MaskedPretrainer
from asma.skeleton.layout import load_layout
from asma.training.loop import make_optimizer

from bench.benchdocs import DOCS, Provenance, provenance, write_benchmark_section
from bench.stepcost import MatmulProbe, matmul_share, step_flops
from experiments.pstl_shim import import_pstl

SECTION = "## Pretraining step"
GPU_SECTION = "## Pretraining step on GPU"

# PSTL config.py values that the pretraining step reads (sacred would inject them)
PSTL_CONFIG = dict(
    view="joint", dataset="ntu60", shear_amp=1, temperal_padding_ratio=6, mask_joint=8, mask_frame=10,
    hidden_size=256, lambd=2e-4, pj_size=6144,
)
PSTL_OPTIM = dict(lr=5e-3, weight_decay=1e-5)


def our_config(threads: int, precision: str = "float32", compile_mode: str = "eager"):
    """PSTL's sizes with PSTL's single masked view (CSM + MATM), three streams."""
    return load_config("paper", [
        "masking.views=[pstl]", "data.window=50", "data.persons=2", "encoder.base_channels=16",
        "encoder.feature_dim=256", "encoder.depth=10", "encoder.dropout=0.5", "projector.dim=6144",
        "projector.layers=3", "projector.off_diagonal_weight=0.0002", "optim.optimizer=adam",
        "optim.lr=0.005", "optim.weight_decay=0.00001", "augment.shear=1.0", "augment.rotate_deg=30",
        "augment.flip_prob=0.5", f"train.threads={threads}", f"train.precision={precision}",
        f"train.compile={compile_mode}",
    ])


def make_batch(n: int, t: int = 50, v: int = 25, m: int = 2, seed: int = 0) -> torch.Tensor:
    """Smooth random trajectories (N, 3, T, V, M): motion differs between frames, as in real data."""
    g = torch.Generator().manual_seed(seed)
    steps = torch.randn(n, 3, t, v, m, generator=g) * 0.02
    return steps.cumsum(dim=2) + torch.randn(n, 3, 1, v, m, generator=g)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch:
    """Accumulates the wall time spent inside wrapped functions. On a GPU it synchronises before
    and after each call, so the time includes the call's kernels (and the stalls the syncs add: an
    upper bound of the masking share)."""

    def __init__(self, device: torch.device = torch.device("cpu")):
        self.seconds = 0.0
        self.device = device
        self.active = True  # a wrapped function counts only while its watch is active


    def wrap(self, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if not self.active:
                return fn(*args, **kwargs)
            synchronize(self.device)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                synchronize(self.device)
                self.seconds += time.perf_counter() - start
        return timed


def time_interleaved(steps: dict, rounds: int, warmup: int, device: torch.device = torch.device("cpu")) -> dict[str, dict]:
    """Run the steps in turn, `rounds` times after `warmup`: on a shared machine both see the same
    load. Per step: the median wall and CPU (process) time, and the mean masking time and share.
    CPU time is the steadier figure on a loaded machine, where wall time mostly measures waiting."""
    for _ in range(warmup):
        for step, _watch in steps.values():
            step()
    synchronize(device)
    times = {name: [] for name in steps}
    cpu = {name: [] for name in steps}
    masking = {name: 0.0 for name in steps}
    for _ in range(rounds):
        for name, (step, watch) in steps.items():
            watch.seconds = 0.0
            start, start_cpu = time.perf_counter(), time.process_time()
            step()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            masking[name] += watch.seconds
    out = {}
    for name, ts in times.items():
        out[name] = {"step_s": statistics.median(ts), "cpu_s": statistics.median(cpu[name]), "masking_s": masking[name] / rounds,
                     "masking_share": masking[name] / sum(ts), "rounds_s": ts, "rounds_cpu_s": cpu[name]}
    return out


def prepare_ours(x: torch.Tensor, threads: int, precision: str = "float32", compile_mode: str = "eager"):
    """Our step, with the masking functions it calls timed; returns (step, stopwatch, parameters).
    It runs where `x` is, as the training loop does (model, optimizer and mask generator there)."""
    cfg = our_config(threads, precision, compile_mode)
    torch.manual_seed(0)
    model = MaskedPretrainer(cfg, load_layout("ntu25"), in_channels=3).to(x.device)
    model.compile_encoders(cfg.train.compile)  # as the training loop does; compiles on the first step
    optimizer = make_optimizer(model.parameters(), cfg.optim)
    generator = torch.Generator(device=x.device).manual_seed(0)
    watch = Stopwatch(x.device)
    for name in ("frames_to_keep", "gather_frames", "joints_to_keep"):  # this process only runs the bench
        setattr(pretrainer_module, name, watch.wrap(getattr(pretrainer_module, name)))
    watch.active = False  # a second of our steps wraps these functions again: each counts its own calls
    model.train()

    def step():
        watch.active = True
        try:
            out = model(x, generator)
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            optimizer.step()
        finally:
            watch.active = False

    return step, watch, sum(p.numel() for p in model.parameters())


def profile_step(step) -> None:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def prepare_pstl(folder: Path, x: torch.Tensor):
    """PSTL's step, with its two masking functions timed; returns (step, stopwatch, parameters)."""
    pstl, PSTLEncoder = import_pstl(folder, PSTL_CONFIG, on_gpu=x.is_cuda)
    torch.manual_seed(0)
    encoder = PSTLEncoder(in_channels=3, hidden_channels=16, hidden_dim=256, dropout=0.5,
                          graph_args={"layout": "ntu-rgb+d", "strategy": "spatial"},
                          edge_importance_weighting=True).to(x.device)
    head = pstl.BTwins().to(x.device)
    optimizer = torch.optim.Adam([{"params": encoder.parameters()}, {"params": head.parameters()}], **PSTL_OPTIM)
    watch = Stopwatch(x.device)
    spatial_mask = watch.wrap(pstl.central_spacial_mask)
    temporal_mask = watch.wrap(pstl.motion_att_temp_mask)
    encoder.train()
    head.train()

    def step():  # the body of PSTL's BTProcessor.train_epoch loop (procedure.py)
        data = pstl.get_stream(x)
        ignore_joint = spatial_mask()
        input1 = pstl.random_spatial_flip(pstl.random_rotate(pstl.shear(pstl.crop(data))))
        feat1 = encoder(input1)
        input2 = pstl.random_spatial_flip(pstl.random_rotate(pstl.shear(pstl.crop(data))))
        feat2 = encoder(temporal_mask(input2))
        input3 = pstl.random_spatial_flip(pstl.random_rotate(pstl.shear(pstl.crop(data))))
        feat3 = encoder(input3, ignore_joint)
        loss = head(feat1, feat2).mean() + head(feat1, feat3).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step, watch, sum(p.numel() for p in encoder.parameters()) + sum(p.numel() for p in head.parameters())


LABELS = {"ours": "ours (`masking.views=[pstl]`)", "ours_bf16": "ours, `train.precision=bfloat16`",
          "ours_compiled": "ours, `train.compile={mode}`", "pstl": "PSTL procedure.py"}


def speedups(results: dict) -> dict[str, tuple[float, float]]:
    """Each of our rows against PSTL's: the median over rounds of PSTL's step time over ours in the
    same round, (wall, CPU)."""
    pstl = results["pstl"]
    return {name: (statistics.median(p / o for p, o in zip(pstl["rounds_s"], r["rounds_s"])),
                   statistics.median(p / o for p, o in zip(pstl["rounds_cpu_s"], r["rounds_cpu_s"])))
            for name, r in results.items() if name != "pstl"}


def markdown(args, results: dict, rate: dict, probe: MatmulProbe, command: str, started: Provenance) -> str:
    rows = [(LABELS[name].format(mode=args.compile), r) for name, r in results.items()]
    on_gpu = args.device == "cuda"
    where = (f"GPU ({torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}); "
             "each step ends with a device synchronise, and the masking calls are timed between two "
             "synchronises, an upper bound" if on_gpu else
             f"{args.threads} thread(s), CPU (torch {torch.__version__})")
    cfg = our_config(args.threads)
    e, proj = cfg.encoder, cfg.projector
    lines = [
        GPU_SECTION if on_gpu else SECTION, "",
        f"Pretraining step (3 streams: anchor, CSM, MATM; forward, backward, Adam) at PSTL's sizes: ST-GCN "
        f"{e.base_channels}->{e.feature_dim}, {e.depth} blocks, encoder.partition={e.partition}, projector "
        f"{proj.layers} x {proj.dim}, T={cfg.data.window}, M={cfg.data.persons}, batch {args.batch}, {where}. "
        f"Median of {args.steps} rounds after {args.warmup} warm-up; the codes alternate step by step, so "
        f"all see the same load: compare the rows, not the absolute numbers ({started.sentence()}).", "",
        "| code | step, wall (s) | sequences/s | step, CPU (s) | sequences per CPU-s | masking (ms/step) "
        "| masking share | parameters | GFLOP/step | share of matmul rate (wall) | (CPU time) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in rows:
        lines.append(f"| {name} | {r['step_s']:.3f} | {args.batch / r['step_s']:.1f} | {r['cpu_s']:.3f} | "
                     f"{args.batch / r['cpu_s']:.1f} | {1000 * r['masking_s']:.1f} | "
                     f"{100 * r['masking_share']:.2f}% | {r['params'] / 1e6:.1f} M | {r['flops'] / 1e9:.1f} | "
                     f"{100 * r['share']:.0f}% | {100 * r['share_cpu']:.0f}% |")
    lines += ["", f"FLOPs by `torch.utils.flop_counter` over one step (forward, backward; multiply-adds x 2). The "
              f"matmul rate is a {probe.size}^3 fp32 product timed in every round "
              f"beside the steps: {probe.flops / rate['step_s'] / 1e9:.1f} GFLOP/s wall, "
              f"{probe.flops / rate['cpu_s'] / 1e9:.1f} GFLOP per CPU-s (medians); a step's share is its FLOP rate "
              "over the product's in the same round (median over rounds)"
              + ("; a bfloat16 step can pass 100% of this fp32 rate." if "ours_bf16" in results else ".")]
    if "pstl" in results:
        ups = "; ".join(f"{LABELS[name].format(mode=args.compile)} **{wall:.2f}x** in wall time, {cpu:.2f}x in CPU time"
                        for name, (wall, cpu) in speedups(results).items())
        floor = results["ours"]["flops"] * rate["cpu_s"] / probe.flops  # CPU-s of our FLOPs at the full fp32 rate
        lines += ["", f"Speed-up over PSTL (median over rounds of the ratio within a round): {ups} (target >= "
                  f"{'3x on a GPU' if on_gpu else '2.5x'}); our masking share "
                  f"**{100 * results['ours']['masking_share']:.2f}%** (target <= 2%). At the fp32 matmul rate "
                  f"per CPU-second above, our float32 step's FLOPs take at least {floor:.2f} CPU-s: "
                  f"{results['pstl']['cpu_s'] / floor:.2f}x PSTL's step in CPU time is the most a float32 step with "
                  "these FLOPs can reach here."]
    lines += ["", "Reproduce (PSTL's public code beside the project, none of it committed; the bench shims its",
              "sacred config (and on CPU its `.cuda()` calls) at run time and needs `pip install einops`):", "",
              "```", "git clone https://github.com/YujieOuO/PSTL /tmp/pstl", command, "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pstl", type=Path, default=os.environ.get("PSTL_DIR"),
                   help="a checkout of github.com/YujieOuO/PSTL (default $PSTL_DIR); omitted: ours only")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="timed rounds (each runs every step once)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cuda: both codes on the GPU, written to the 'Pretraining step on GPU' section")
    p.add_argument("--bf16", action="store_true", help="also our step with train.precision=bfloat16 (autocast)")
    p.add_argument("--compile", choices=["default", "reduce-overhead", "max-autotune"],
                   help="also our float32 step with train.compile=MODE (Inductor; reduce-overhead adds CUDA graphs on a GPU)")
    p.add_argument("--quick", action="store_true", help="batch 16, 2 rounds: a check that it runs")
    p.add_argument("--profile", action="store_true", help="print torch.profiler's top ops of one of our steps")
    p.add_argument("--write-docs", action="store_true",
                   help="write the figures into the '## Pretraining step' section of --write (without it: print only)")
    p.add_argument("--write", type=Path, default=DOCS, help=f"the markdown file --write-docs writes (default {DOCS})")
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.steps = 16, 2
    if args.pstl is not None and not (Path(args.pstl) / "model.py").exists():
        p.error(f"--pstl {args.pstl}: no model.py there; clone https://github.com/YujieOuO/PSTL into it")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: torch sees no GPU here")
    started = provenance()
    torch.set_num_threads(args.threads)
    x = make_batch(args.batch).to(args.device)
    step, watch, params = prepare_ours(x, args.threads)
    steps, sizes = {"ours": (step, watch)}, {"ours": params}
    if args.bf16:
        step, watch, params = prepare_ours(x, args.threads, "bfloat16")
        steps["ours_bf16"], sizes["ours_bf16"] = (step, watch), params
    if args.compile:
        step, watch, params = prepare_ours(x, args.threads, compile_mode=args.compile)
        steps["ours_compiled"], sizes["ours_compiled"] = (step, watch), params
    if args.pstl is not None:
        step, watch, params = prepare_pstl(Path(args.pstl), x)
        steps["pstl"], sizes["pstl"] = (step, watch), params
    if args.profile:
        profile_step(steps["ours"][0])
    # a compiled step does the eager step's arithmetic (the FLOP counter cannot see into compiled graphs)
    flops = {name: step_flops(step) for name, (step, _watch) in steps.items() if name != "ours_compiled"}
    if "ours_compiled" in steps:
        flops["ours_compiled"] = flops["ours"]
    probe = MatmulProbe(device=x.device)
    results = time_interleaved({**steps, "matmul": (probe, Stopwatch(x.device))}, args.steps, args.warmup, x.device)
    rate = results.pop("matmul")
    print(f"matmul probe ({probe.size}^3 fp32): {probe.flops / rate['step_s'] / 1e9:.1f} GFLOP/s wall, "
          f"{probe.flops / rate['cpu_s'] / 1e9:.1f} GFLOP per CPU-s")
    for name, r in results.items():
        r["params"], r["flops"] = sizes[name], flops[name]
        r["share"] = matmul_share(flops[name], r["rounds_s"], probe.flops, rate["rounds_s"])
        r["share_cpu"] = matmul_share(flops[name], r["rounds_cpu_s"], probe.flops, rate["rounds_cpu_s"])
        print(f"{name}: {r['step_s']:.2f} s/step wall ({args.batch / r['step_s']:.1f} seq/s), "
              f"{r['cpu_s']:.2f} CPU-s/step ({args.batch / r['cpu_s']:.1f} seq per CPU-s), masking {1000 * r['masking_s']:.1f} ms = {100 * r['masking_share']:.2f}% of the step; "
              f"{r['flops'] / 1e9:.1f} GFLOP, {100 * r['share']:.0f}% of the matmul rate (wall), {100 * r['share_cpu']:.0f}% (CPU time)")
    if "pstl" in results:
        for name, (wall, cpu) in speedups(results).items():
            print(f"speed-up of {name} over PSTL: {wall:.2f}x wall, {cpu:.2f}x CPU time (median of per-round ratios)")
    given = argv if argv is not None else sys.argv[1:]
    hidden = {"--pstl", "--write"}  # where PSTL and the docs are is not part of the recipe
    kept = [a for i, a in enumerate(given)
            if a.split("=")[0] not in hidden and (i == 0 or given[i - 1] not in hidden)]
    command = "PSTL_DIR=/tmp/pstl .venv/bin/python -m bench.bench_step " + " ".join(kept)
    if args.write_docs:
        section = GPU_SECTION if args.device == "cuda" else SECTION
        write_benchmark_section(section, markdown(args, results, rate, probe, command.strip(), started), args.write)
        print(f"wrote the '{section[3:]}' section of {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
