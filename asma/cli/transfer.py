"""`asma transfer SOURCE --target DIR`: pretrained encoders, unchanged, on another prepared set.

`asma save-encoders STUDY` keeps each pretrained run's encoders in STUDY/encoders/, small enough for
git: a fresh clone then transfers without the study's checkpoints.

SOURCE is a study folder of `asma ablate` (every run of it; the tables come from `asma report` on
the folder printed), or one run: an `asma pretrain` folder, a checkpoint, or a study's run record.
The target must hold the pretraining set's joints in its order (`asma data relayout` puts them so).

    asma data relayout data/msr_action3d --layout kinect_v1 --out data/msr_action3d_kinect_v1
    asma transfer records/ablations/msrc12 --target data/msr_action3d_kinect_v1
    asma report records/ablations/msrc12/transfer/msr_action3d_kinect_v1_xsub
"""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

TRANSFER_PROTOCOLS = ("linear", "knn", "finetune", "semi")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transfer", help="evaluate pretrained encoders, unchanged, on another prepared set")
    p.add_argument("source", metavar="SOURCE", help="a study folder, a run folder, a checkpoint .pt or a run record .json")
    p.add_argument("--target", type=Path, required=True, help="prepared set in the pretraining set's joint layout")
    p.add_argument("--split", default="xsub", help="the target's split (default: xsub)")
    p.add_argument("--protocols", default="linear,knn,finetune",
                   help=f"comma-separated, from {','.join(TRANSFER_PROTOCOLS)} (default: linear,knn,finetune)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override an evaluation value, e.g. --set eval.finetune_epochs=20 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    keep = sub.add_parser("save-encoders", help="keep a study's pretrained encoders beside its records "
                          "(STUDY/encoders/<run>.pt, for git), so that `asma transfer` needs no checkpoint")
    keep.add_argument("study", metavar="STUDY", type=Path, help="a study folder of `asma ablate` or `asma pool`")
    keep.set_defaults(func=save_encoders)


def run(args: argparse.Namespace) -> int:
    from asma.ablation.transfer_table import transfer_run, transfer_study
    from asma.errors import ConfigError

    console = Console()
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    unknown = [p for p in protocols if p not in TRANSFER_PROTOCOLS]
    if unknown:
        raise ConfigError("--protocols", ",".join(unknown), f"choose from {', '.join(TRANSFER_PROTOCOLS)}")
    source = Path(args.source)
    if (source / "study.json").exists():
        out = transfer_study(source, args.target, args.split, protocols, args.overrides,
                             None if args.quiet else console)
        console.print(f"written {out}; its tables: asma report {out}", highlight=False)
        return 0
    out, metrics = transfer_run(source, args.target, args.split, protocols, args.overrides)
    console.print("  ".join(f"{k} {v:.1f}" for k, v in metrics.items()), highlight=False)
    console.print(f"written {out}", highlight=False)
    return 0


def save_encoders(args: argparse.Namespace) -> int:
    from asma.ablation.saved_encoders import save_study_encoders

    console = Console()
    saved = save_study_encoders(args.study)
    size = sum(p.stat().st_size for p in saved.written) / 1e6
    console.print(f"{len(saved.written)} written ({size:.1f} MB), {len(saved.kept)} up to date, in "
                  f"{args.study / 'encoders'}", highlight=False)
    for line in saved.missing:
        console.print(f"[yellow]not saved[/] {line}", highlight=False)
    return 1 if saved.missing else 0
