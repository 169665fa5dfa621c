"""Teacher vs distilled student on CPU: parameters, FLOPs, latency at batch 1 and 32.

Teacher = the default config's two encoders + cross-attention alignment + linear head (60
classes, NTU layout, T = data.window, M = data.persons); student = the default `student` section,
fed clips of its own window; plus the student's int8 dynamic quantization and the TCN variant.
Latency is the median over repeats of a no-grad forward, warm-up excluded.

    .venv/bin/python bench/bench_student.py [--quick] [--threads 1] [--write-docs]
"""
from __future__ import annotations

import argparse
import statistics
import os
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from asma.config.schema import Config
from asma.evaluation.heads import AlignedClassifier
from asma.export.formats import quantize_int8
from asma.models.pretrainer import MaskedPretrainer
from asma.models.student import StudentClassifier, count_parameters
from asma.skeleton.layout import load_layout
from asma.training.distill import Teacher

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdocs import write_benchmark_section  # noqa: E402

SECTION = "## Student"


class LogitsOnly(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[0]


def models(num_classes: int) -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    """name -> (model clips -> logits, one clip's shape (C, T, V, M))."""
    cfg = Config()
    layout = load_layout("ntu25")
    torch.manual_seed(0)
    encoders = MaskedPretrainer(cfg, layout, 3).encoders()
    teacher = Teacher(encoders, AlignedClassifier(cfg.alignment, len(encoders), cfg.encoder.feature_dim, num_classes))
    student = StudentClassifier(cfg.student, layout, 3, num_classes, teacher.out_dim).deployable().eval()
    tcn = StudentClassifier(cfg.student.model_copy(update={"arch": "tcn"}), layout, 3, num_classes,
                            teacher.out_dim).deployable().eval()
    teacher_shape = (3, cfg.data.window, layout.num_joints, cfg.data.persons)
    student_shape = (3, cfg.student.window, layout.num_joints, cfg.data.persons)
    s = cfg.student
    return {
        "teacher (2 x ST-GCN w16 d10 f256 + cross-attention + head)": (LogitsOnly(teacher).eval(), teacher_shape),
        f"student ST-GCN w{s.base_channels} d{s.depth} f{s.feature_dim} T{s.window}": (student, student_shape),
        "student ST-GCN, int8 dynamic (Linear layers)": (quantize_int8(student), student_shape),
        f"student TCN w{s.base_channels} d{s.depth} f{s.feature_dim} T{s.window}": (tcn, student_shape),
    }


def flops(model: torch.nn.Module, shape: tuple[int, ...]) -> int:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.randn(1, *shape))
    return counter.get_total_flops()


@torch.no_grad()
def latency_ms(model: torch.nn.Module, shape: tuple[int, ...], batch: int, repeats: int, warmup: int) -> float:
    x = torch.randn(batch, *shape)
    for _ in range(warmup):
        model(x)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def run(args: argparse.Namespace) -> list[dict]:
    torch.set_num_threads(args.threads)
    rows = []
    for name, (model, shape) in models(args.classes).items():
        counted = flops(model, shape) if "int8" not in name else None  # quantized kernels are not counted
        row = {"model": name, "params": count_parameters(model) if "int8" not in name else None,
               "gflops": counted / 1e9 if counted is not None else None, "input": shape}
        row["b1_ms"] = latency_ms(model, shape, 1, args.repeats, args.warmup)
        row["b32_ms"] = latency_ms(model, shape, 32, max(3, args.repeats // 4), max(1, args.warmup // 2))
        rows.append(row)
        print(f"{name}: {row}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    teacher = rows[0]
    lines = ["| model | input (C, T, V, M) | parameters | GFLOPs / clip | batch 1 ms | batch 32 ms | speed-up b1 | speed-up b32 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        params = f"{r['params']:,}" if r["params"] is not None else "(as above, Linear int8)"
        if r["params"] is not None and r is not teacher:
            params += f" ({100 * (1 - r['params'] / teacher['params']):.1f}% fewer)"
        gflops = f"{r['gflops']:.3f}" if r["gflops"] is not None else "-"
        lines.append(f"| {r['model']} | {tuple(r['input'])} | {params} | {gflops} | {r['b1_ms']:.1f} | {r['b32_ms']:.1f} | "
                     f"{teacher['b1_ms'] / r['b1_ms']:.1f}x | {teacher['b32_ms'] / r['b32_ms']:.1f}x |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats (seconds, for a smoke check)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (edge-device setting: 1)")
    p.add_argument("--classes", type=int, default=60)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--write-docs", action="store_true", help="write the table into docs/benchmarks.md ## Student")
    args = p.parse_args()
    args.repeats = args.repeats or (5 if args.quick else 30)
    args.warmup = 2 if args.quick else 5
    rows = run(args)
    out = table(rows)
    print(out)
    if args.write_docs:
        cmd = " ".join([".venv/bin/python", "bench/bench_student.py"] + sys.argv[1:])
        note = (f"CPU inference, {args.threads} thread(s), random weights (latency and size do not depend on them), "
                f"median of {args.repeats} runs at batch 1 and {max(3, args.repeats // 4)} at batch 32 after warm-up; "
                "FLOPs by `torch.utils.flop_counter` (multiply-adds x 2; the graph aggregation einsums included). "
                f"Load average {os.getloadavg()[0]:.1f} when it started. "
                "int8 dynamic quantization converts only Linear layers (in the student: the classifier head, "
                "well under 1% of its FLOPs); convolutions and graph einsums stay float32, so it cannot speed "
                "a conv-heavy GCN up on CPU: any difference in its row is quantize/dequantize overhead or noise.")
        write_benchmark_section(SECTION, f"{SECTION}\n\n{out}\n\n{note}\n\nReproduce: `{cmd}`\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
