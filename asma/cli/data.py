"""`asma data synth | prepare | import`: make, prepare or convert skeleton data sets."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="make, prepare or convert skeleton data sets")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    p = commands.add_parser("synth", help="write a seeded synthetic skeleton set")
    p.add_argument("--out", type=Path, required=True, help="output folder (replaced atomically)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--per-class", type=int, default=40, help="samples per class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--persons", type=int, default=2, choices=(1, 2), help="bodies M per sample")
    p.add_argument("--layout", default="ntu25", help="built-in layout name or layout YAML path")
    p.add_argument("--min-len", type=int, default=40, help="shortest sample, frames")
    p.add_argument("--max-len", type=int, default=120, help="longest sample, frames")
    p.add_argument("--view-jitter", type=float, default=5.0,
                   help="spread (std, degrees) of each sample's camera yaw about its camera's angle")
    p.set_defaults(func=run_synth)

    from asma.data.prepare import DATASETS, dataset_name

    p = commands.add_parser("prepare", help="read a raw data set into the standard format")
    p.add_argument("name", type=dataset_name, choices=DATASETS,
                   help="the data set; dashes or underscores and case do not matter (msr-action3d, NTU-60)")
    p.add_argument("--raw", type=Path, required=True, help="folder of the data set's files as distributed")
    p.add_argument("--out", type=Path, required=True, help="output folder (replaced atomically)")
    p.add_argument("--workers", type=int, default=1, help="parsing processes")
    p.add_argument("--missing", type=Path, default=None,
                   help="NTU: official missing-skeleton list (default: ntuNN_samples_with_missing_skeletons.txt "
                        "in --raw or ../shared/data/ntu)")
    p.add_argument("--splits", type=Path, default=None,
                   help="PKU-MMD: folder of the official split lists (cross-subject.txt, cross-view.txt)")
    p.add_argument("--strict", action="store_true",
                   help="an unreadable raw file is an error: exit 2 and write nothing (default: skip it, list it "
                        "by name in the summary and in meta.json)")
    p.set_defaults(func=run_prepare)

    from asma.data.external import FORMATS

    p = commands.add_parser("import", help="convert a prepared set in another project's format")
    p.add_argument("format", choices=FORMATS)
    p.add_argument("path", type=Path, help="ctrgcn-npz: the .npz; pyskl: the .pkl; pstl: the folder of "
                                           "*_data_joint.npy + *_label.pkl (or one of its files)")
    p.add_argument("--out", type=Path, required=True, help="output folder (replaced atomically)")
    p.add_argument("--layout", default=None, help="layout name (default: chosen from V and C)")
    p.add_argument("--dataset", default=None, help="data set name recorded in meta.json (default: from the file name)")
    p.set_defaults(func=run_import)


def run_synth(args: argparse.Namespace) -> int:
    from asma.data.format import SkeletonSet
    from asma.data.synthetic import make_synthetic

    out = make_synthetic(args.out, num_classes=args.classes, samples_per_class=args.per_class, persons=args.persons,
                         seed=args.seed, layout=args.layout, min_len=args.min_len, max_len=args.max_len,
                         view_jitter_deg=args.view_jitter)
    s = SkeletonSet.open(out)
    print(f"wrote {len(s)} samples, {s.num_classes} classes, {int(s.lengths.sum())} frames to {out}")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from asma.data.prepare import prepare

    prepare(args.name, args.raw, args.out, workers=args.workers, missing=args.missing, splits_dir=args.splits,
            strict=args.strict)
    return 0


def run_import(args: argparse.Namespace) -> int:
    from asma.data.external import import_external

    meta = import_external(args.format, args.path, args.out, layout=args.layout, dataset=args.dataset)
    print(f"wrote {meta['num_samples']} samples ({', '.join(meta['splits_summary'])}) to {args.out}")
    return 0
