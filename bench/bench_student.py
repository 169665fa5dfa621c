"""Teacher vs distilled student on CPU: parameters, FLOPs, latency at batch 1 and 32.

Teacher = the config's two encoders + alignment + linear head (default config: cross-attention, 60
classes, NTU layout; T = data.window, M = data.persons); student = its `student` section, fed clips
of its own window; plus the student's int8 dynamic quantization and the TCN variant. Latency is the
median over repeats of a no-grad forward, warm-up excluded. `--config real --layout msr_action3d
--classes 20 --set student.depth=4` measures the real preset's pair (ablations/real_distillation.yaml)
side by side in one process, which a study's per-run figures, taken beside other trials, are not.

    .venv/bin/python -m bench.bench_student [--quick] [--threads 1] [--config C --layout L --set k=v] [--write-docs]
"""
from __future__ import annotations

import argparse
import sys

import torch

from asma.config import load_config
from asma.config.schema import Config
from asma.distillation.distill import Teacher
from asma.evaluation.heads import AlignedClassifier
from asma.export.formats import quantize_int8
from asma.models.cost import forward_flops, latency_ms
from asma.models.pretrainer import MaskedPretrainer
from asma.models.student import StudentClassifier, count_parameters
from asma.skeleton.layout import load_layout

from bench.benchdocs import Provenance, provenance, publish

SECTION = "## Student"


class LogitsOnly(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[0]


def models(num_classes: int, cfg: Config | None = None,
           layout_name: str = "ntu25") -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    """name -> (model clips -> logits, one clip's shape (C, T, V, M))."""
    cfg = cfg or Config()
    layout = load_layout(layout_name)
    torch.manual_seed(0)
    encoders = MaskedPretrainer(cfg, layout, 3).encoders()
    teacher = Teacher(encoders, AlignedClassifier(cfg.alignment, len(encoders), cfg.encoder.feature_dim, num_classes))
    student = StudentClassifier(cfg.student, layout, 3, num_classes, teacher.out_dim).deployable().eval()
    tcn = StudentClassifier(cfg.student.model_copy(update={"arch": "tcn"}), layout, 3, num_classes,
                            teacher.out_dim).deployable().eval()
    teacher_shape = (3, cfg.data.window, layout.num_joints, cfg.data.persons)
    student_shape = (3, cfg.student.window, layout.num_joints, cfg.data.persons)
    s, e = cfg.student, cfg.encoder
    teacher_name = (f"teacher ({len(encoders)} x ST-GCN w{e.base_channels} d{e.depth} f{e.feature_dim} + "
                    f"{cfg.alignment.kind.replace('_', '-')} + head)")
    return {
        teacher_name: (LogitsOnly(teacher).eval(), teacher_shape),
        f"student ST-GCN w{s.base_channels} d{s.depth} f{s.feature_dim} T{s.window}": (student, student_shape),
        "student ST-GCN, int8 dynamic (Linear layers)": (quantize_int8(student), student_shape),
        f"student TCN w{s.base_channels} d{s.depth} f{s.feature_dim} T{s.window}": (tcn, student_shape),
    }


def linear_flops(model: torch.nn.Module, shape: tuple[int, ...]) -> tuple[int, int]:
    """(number of Linear layers, their FLOPs on one clip: 2 x in x out per input row)."""
    counted = []
    hooks = [m.register_forward_hook(lambda m, args, out: counted.append(2 * m.in_features * m.out_features
                                                                          * (args[0].numel() // m.in_features)))
             for m in model.modules() if isinstance(m, torch.nn.Linear)]
    try:
        with torch.no_grad():
            model(torch.randn(1, *shape))
    finally:
        for hook in hooks:
            hook.remove()
    return len(hooks), sum(counted)


def run(args: argparse.Namespace) -> list[dict]:
    torch.set_num_threads(args.threads)
    rows = []
    cfg = load_config(args.config, args.overrides) if args.config else None
    for name, (model, shape) in models(args.classes, cfg, args.layout).items():
        counted = forward_flops(model, shape) if "int8" not in name else None  # quantized kernels are not counted
        row = {"model": name, "params": count_parameters(model) if "int8" not in name else None,
               "gflops": counted / 1e9 if counted is not None else None, "input": shape}
        if counted is not None:
            row["linear_layers"], linear = linear_flops(model, shape)
            row["linear_share"] = linear / counted if counted else 0.0
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


def command(argv: list[str]) -> str:
    return " ".join([".venv/bin/python", "-m", "bench.bench_student", *argv])


def note(args: argparse.Namespace, rows: list[dict], where: Provenance) -> str:
    student = rows[1]  # the float ST-GCN student; rows[2] is its int8 copy
    int8 = next(r for r in rows if "int8" in r["model"])
    return (f"CPU inference, {args.threads} thread(s), random weights (latency and size do not depend on them), "
            f"median of {args.repeats} runs at batch 1 and {max(3, args.repeats // 4)} at batch 32 after warm-up; "
            "FLOPs by `torch.utils.flop_counter` (multiply-adds x 2; the graph aggregation einsums included); "
            f"{where.sentence()}. int8 dynamic quantization converts only Linear layers (in the ST-GCN student: "
            f"{student['linear_layers']} Linear layer(s), {100 * student['linear_share']:.2f}% of its FLOPs); "
            "convolutions and "
            f"graph einsums stay float32. Its latency is {int8['b1_ms'] / student['b1_ms']:.2f}x the float "
            f"student's at batch 1 and {int8['b32_ms'] / student['b32_ms']:.2f}x at batch 32.")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats (seconds, for a smoke check)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (edge-device setting: 1)")
    p.add_argument("--classes", type=int, default=60)
    p.add_argument("--config", default=None, help="a preset or config file (default: the default config)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of --config, e.g. student.depth=4")
    p.add_argument("--layout", default="ntu25", help="skeleton layout of the clips (default ntu25)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--write-docs", action="store_true",
                   help="write the table into docs/benchmarks.md ## Student (## Student: the `C` preset with --config)")
    args = p.parse_args()
    args.repeats = args.repeats or (5 if args.quick else 30)
    args.warmup = 2 if args.quick else 5
    where = provenance()
    rows = run(args)
    out = table(rows)
    section = SECTION if not args.config else f"{SECTION}: the `{args.config}` preset"
    text = f"{section}\n\n{out}\n\n{note(args, rows, where)}\n\nReproduce: `{command(sys.argv[1:])}`\n"
    publish(section, text, args.write_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
