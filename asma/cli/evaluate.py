"""`asma eval RUN_DIR_OR_CHECKPOINT [--protocols linear,knn,...] [--set k=v] [--random-init]`.

Evaluates a pretraining run's encoders with the downstream protocols (linear, knn, finetune,
semi, transfer, supervised), prints a table and writes eval.json next to the run (with
--random-init: eval_random_init.json, the floor). The config is the checkpoint's own, with
--set applied (e.g. --set eval.epochs=20 --set alignment.kind=concat).

The full protocol set on the synthetic set, a few minutes on a 2-core CPU:

    asma pretrain laptop --set name=synth_demo
    asma eval runs/synth_demo --protocols linear,knn,finetune,semi,supervised
    asma eval runs/synth_demo --protocols linear,knn --random-init
"""
from __future__ import annotations

import argparse

from rich.console import Console

from asma.cli.common import add_tracking_args, tracking_overrides
from asma.evaluation.protocols import checkpoint_config, load_source, run_protocols
from asma.evaluation.results import results_table
from asma.tracking.trackers import TrackedRun, check_tracking, open_tracker
from asma.training.data import build_run_data

PROTOCOL_NAMES = ("linear", "knn", "finetune", "semi", "transfer", "supervised")  # asma.evaluation.protocols


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a run's encoders: linear, knn, finetune, semi, transfer, supervised")
    p.add_argument("source", metavar="RUN_DIR_OR_CHECKPOINT", help="a run folder of `asma pretrain`, or a checkpoint .pt")
    p.add_argument("--protocols", default=None,
                   help=f"comma-separated, from {','.join(PROTOCOL_NAMES)} (default: the config's eval.protocols)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set eval.epochs=20 (repeatable)")
    p.add_argument("--random-init", action="store_true",
                   help="evaluate randomly initialised encoders of the same config, BatchNorm statistics "
                        "estimated on the training clips (the floor)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_tracking_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = Console()
    cfg, checkpoint = checkpoint_config(args.source, [*args.overrides, *tracking_overrides(args)])
    check_tracking(cfg.tracking)
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()] if args.protocols else list(cfg.eval.protocols)
    data = build_run_data(cfg)
    source = load_source(cfg, checkpoint, data, random_init=args.random_init)
    # the pretraining run's tracker (same folder, so the same MLflow / W&B run) gets the results
    with open_tracker(cfg, TrackedRun(cfg.name, str(source.run_dir))) as tracker:
        record = run_protocols(cfg, source, data, protocols, console=None if args.quiet else console,
                               tracker=tracker)
    title = f"{'random-init ' if source.random_init else ''}{source.run_dir} (epoch {source.epoch})"
    console.print(results_table({**record, "protocols": {p: record["protocols"][p] for p in protocols}}, title))
    console.print(f"written {source.results_path}", highlight=False)
    return 0
