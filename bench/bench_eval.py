"""Evaluation protocols on the synthetic set: accuracy and seconds of each, pretrained vs random init.

    .venv/bin/python -m bench.bench_eval [--quick] [--write-docs]

Pretrains the `laptop` preset (--quick: `smoke`) on the synthetic set into a temporary folder,
then runs linear, knn, finetune, semi and supervised on its encoders and linear + knn on randomly
initialised encoders (the floor). --write-docs replaces the `## Evaluation` section of
docs/benchmarks.md with the table and the command.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from asma.config.loading import load_config
from asma.evaluation.protocols import EncoderSource, random_encoders, run_protocols
from asma.evaluation.proxy import proxy_knn
from asma.training.data import build_run_data
from asma.training.local import pretrain_locally

from bench.benchdocs import DOCS, provenance, write_benchmark_section

SECTION = "## Evaluation"


def rows(record: dict, label: str) -> list[str]:
    out = []
    for name, r in record["protocols"].items():
        if name == "semi":
            for fraction, f in r["fractions"].items():
                out.append(f"| {label} | semi {float(fraction) * 100:g}% ({r['sampling']}, {r['repeats']} runs) | "
                           f"{f['top1']:.1f} ± {f['top1_std']:.1f} | {f['top5']:.1f} ± {f['top5_std']:.1f} | {r['seconds']:.0f} s |")
        else:
            out.append(f"| {label} | {name} | {r['top1']:.1f} | {r['top5']:.1f} | {r['seconds']:.1f} s |")
    return out


def against_floor(pretrained: dict, floor: dict) -> str:
    """What this one run's table shows about pretraining against the floor, protocol by protocol."""
    gaps = [f"{name} {pretrained['protocols'][name]['top1'] - floor['protocols'][name]['top1']:+.1f}"
            for name in ("linear", "knn") if name in pretrained["protocols"] and name in floor["protocols"]]
    return ("Pretrained minus random init, top-1 points: " + ", ".join(gaps) + " (one seed; margins over "
            "seeds in docs/method.md, 'Frozen evaluation and the random-init floor').")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke preset: seconds instead of minutes")
    p.add_argument("--write-docs", action="store_true", help=f"write the table into {DOCS}")
    args = p.parse_args(argv)
    console = Console()
    where = provenance()
    preset = "smoke" if args.quick else "laptop"
    with tempfile.TemporaryDirectory(prefix="bench_eval_") as tmp:
        cfg = load_config(preset, ["name=bench_eval", f"out_dir={tmp}"])
        data = build_run_data(cfg)
        started = time.perf_counter()
        model = pretrain_locally(cfg, data=data, console=console, proxy=proxy_knn).model
        pretrain_s = time.perf_counter() - started
        protocols = ["linear", "knn", "finetune", "semi", "supervised"]
        pretrained = run_protocols(cfg, EncoderSource(model.encoders(), "pretrained", Path(tmp), cfg.train.epochs),
                                   data, protocols, console=console)
        floor = run_protocols(cfg, EncoderSource(random_encoders(cfg, data), "random-init", Path(tmp)), data,
                              ["linear", "knn"], console=console)
    command = "`.venv/bin/python -m bench.bench_eval" + (" --quick" if args.quick else "") + " --write-docs`"
    s = cfg.data.synthetic
    lines = [
        SECTION, "",
        f"Protocols on the synthetic set ({s.num_classes} classes x {s.samples_per_class}, `{preset}` preset: "
        f"{cfg.train.epochs} pretraining epochs in {pretrain_s:.0f} s; linear {cfg.eval.epochs} epochs on cached "
        f"features, fine-tuning {cfg.eval.finetune_epochs} epochs), CPU ({command}; {where.sentence()}). "
        "Random init = the same encoders untrained, BatchNorm statistics estimated on the training clips "
        "(the floor); supervised = fine-tuning from random init (the ceiling); the frozen protocols' time "
        f"includes that estimate (eval.precise_bn). {against_floor(pretrained, floor)}", "",
        "| encoders | protocol | top-1 % | top-5 % | time |", "| --- | --- | --- | --- | --- |",
        *rows(pretrained, "pretrained"), *rows(floor, "random init"), "",
    ]
    table = "\n".join(lines)
    print(table)
    if args.write_docs:
        write_benchmark_section(SECTION, table)
        console.print(f"written the {SECTION!r} section of {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
