"""Which BatchNorm statistics a trained student should be scored with: its running averages, or a
re-estimate ("precise BN") over the training clips at one batch size or another.

Trains one student from scratch (labels only, the config's distillation recipe) and scores it on the
test clips with each set of statistics. docs/method.md ("Frozen evaluation and the random-init
floor") quotes it; it is a diagnostic that prints, and writes no docs.

    .venv/bin/python -m experiments.precise_bn --config real --set data.path=data/msr_action3d \\
        --set data.split=xsub --set student.depth=4 [--batches 256,16]
"""
from __future__ import annotations

import argparse
import copy
import time

import torch

from asma.config.loading import load_config
from asma.distillation.distill import scratch_config, student_for, train_student
from asma.evaluation.finetune import evaluate_clips
from asma.evaluation.heads import recompute_batchnorm_stats
from asma.training.data import build_run_data


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="real")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--batches", default="256,16", help="batch sizes of the re-estimates (comma-separated)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.overrides)
    data = build_run_data(cfg)
    device = torch.device("cpu")
    started = time.perf_counter()
    student = student_for(cfg, data, cfg.student.feature_dim)
    train_student(scratch_config(cfg), data, student, None, device, precise_bn=False)
    print(f"student {cfg.student.arch} w{cfg.student.base_channels} d{cfg.student.depth} trained at batch "
          f"{cfg.distill.batch_size} for {cfg.distill.epochs} epochs, seed {cfg.distill.seed} "
          f"({time.perf_counter() - started:.0f} s)")
    print(f"running statistics: top-1 {evaluate_clips(student, data.test, device)['top1']:.1f}%")
    for batch in (int(b) for b in args.batches.split(",")):
        model = copy.deepcopy(student)
        recompute_batchnorm_stats(model, data.train, device, batch)
        print(f"re-estimated at batch {batch}: top-1 {evaluate_clips(model.eval(), data.test, device)['top1']:.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
