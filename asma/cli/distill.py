"""`asma distill` (teacher run -> lightweight student) and `asma export` (student -> deployable file).

    asma distill --teacher runs/synth_demo [--config CONFIG] [--set student.depth=4 ...] [--baseline]
    asma export runs/synth_demo/students/stgcn_w8_d6_f64_T30/student.pt --format onnx --out student.onnx

Without --config the teacher run's own config is used; with it, data, alignment, eval, student and
distill come from CONFIG while the teacher's encoders are built as they were trained. The student
folder (default: TEACHER_RUN/students/<arch>_w<width>_d<depth>_f<feature>_T<window>) holds
student.pt, distill.json, eval.json and config.yaml.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from asma.config import load_config
from asma.distillation.distill import distill_run, load_student
from asma.errors import ConfigError
from asma.evaluation.protocols import checkpoint_config
from asma.export.check import check_export
from asma.export.formats import FORMATS, export_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill", help="distil a pretrained run (encoders + alignment + linear head) into a small student")
    p.add_argument("--teacher", default=None, metavar="RUN_DIR_OR_CKPT",
                   help="a run folder of `asma pretrain` or its checkpoint (default: the config's distill.teacher)")
    p.add_argument("--config", default=None, help="config YAML or preset (default: the teacher run's config)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set student.depth=4 (repeatable)")
    p.add_argument("--out", default=None, help="student folder (default: TEACHER_RUN/students/<size tag>)")
    p.add_argument("--baseline", action="store_true",
                   help="also train the same student from scratch (labels only, same steps) and report it")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_distill)

    e = sub.add_parser("export", help="export a distilled student to TorchScript, ONNX or int8, checked against PyTorch")
    e.add_argument("student", metavar="STUDENT_CKPT", help="student.pt of `asma distill`, or its folder")
    e.add_argument("--format", required=True, choices=FORMATS)
    e.add_argument("--out", required=True, help="file to write (.pt for torchscript/int8, .onnx for onnx)")
    e.add_argument("--check-batch", type=int, default=8, help="random clips the outputs are compared on")
    e.set_defaults(func=run_export)


def distill_config(args: argparse.Namespace):
    if args.config:
        cfg = load_config(args.config, args.overrides)
    elif args.teacher:
        cfg, _ = checkpoint_config(args.teacher, args.overrides)
    else:
        raise ConfigError("asma distill", "--teacher", "name the teacher run (or pass --config with distill.teacher set)")
    teacher = args.teacher or cfg.distill.teacher
    if not teacher:
        raise ConfigError(args.config, "distill.teacher", "no teacher: pass --teacher RUN_DIR_OR_CKPT")
    return cfg, teacher


def run_distill(args: argparse.Namespace) -> int:
    console = Console()
    cfg, teacher = distill_config(args)
    record = distill_run(cfg, teacher, Path(args.out) if args.out else None,
                         console=None if args.quiet else console, baseline=args.baseline)
    table = Table(title=f"distillation into {record['student']['tag']}")
    for column in ("model", "parameters", "head top-1 %", "linear top-1 %", "knn top-1 %"):
        table.add_column(column, justify="left" if column == "model" else "right")
    protocols = record["student"].get("protocols", {})

    def pct(result: dict | None) -> str:
        return f"{result['top1']:.1f}" if result else "-"

    table.add_row("teacher", f"{record['teacher']['parameters']:,}", pct(record["teacher"]["linear"]), "-", "-")
    table.add_row("student (distilled)", f"{record['student']['parameters']:,}", pct(record["student"]["head"]),
                  pct(protocols.get("linear")), pct(protocols.get("knn")))
    if "scratch" in record:
        table.add_row("student (from scratch)", f"{record['student']['parameters']:,}", pct(record["scratch"]["head"]), "-", "-")
    console.print(table)
    t, st = record["teacher"]["inference"], record["student"]["inference"]
    console.print(f"{record['parameter_reduction_pct']:.1f}% fewer parameters than the teacher; batch-1 CPU latency "
                  f"{t['latency_ms_b1']:.2f} -> {st['latency_ms_b1']:.2f} ms ({record['speedup_b1']:.1f}x faster, "
                  f"{st['threads']} thread(s)); written {record['out']}", highlight=False)
    return 0


def run_export(args: argparse.Namespace) -> int:
    import torch

    if args.check_batch < 1:
        raise ConfigError("asma export", "--check-batch", "must be at least 1")
    student, state = load_student(args.student)
    cfg = state["config"]
    deployed = student.deployable().eval()
    shape = deployed.encoder.input_shape(cfg.data.persons)
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(1, *shape, generator=generator)
    out = export_model(deployed, example, args.format, Path(args.out))
    result = check_export(deployed, args.format, out, torch.randn(args.check_batch, *shape, generator=generator))
    console = Console()
    console.print(f"written {out} ({out.stat().st_size / 1024:.0f} KiB): input clips (N, {', '.join(map(str, shape))}) "
                  f"-> logits (N, {state['num_classes']})", highlight=False)
    console.print(json.dumps(result), highlight=False)
    return 0
