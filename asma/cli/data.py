"""`asma data synth | prepare | import | info`: make, prepare, convert or check skeleton data sets."""
from __future__ import annotations

import argparse
from pathlib import Path

from asma.data.external import FORMATS, import_external
from asma.data.format import SkeletonSet
from asma.data.prepare import DATASETS, dataset_name, prepare, prepare_with
from asma.data.readers.text import SOURCE, TextReader
from asma.data.summary import print_summary
from asma.data.synthetic import make_synthetic
from asma.errors import ConfigError


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

    p = commands.add_parser("import", help="convert your own text files, or a set in another project's format",
                            description="See docs/your-own-data.md for a data set of your own, from raw files on.")
    p.add_argument("format", choices=(*FORMATS, "text"))
    p.add_argument("path", type=Path, help="text: the folder of one file per sequence; ctrgcn-npz: the .npz; "
                                           "pyskl: the .pkl; pstl: the folder of *_data_joint.npy + *_label.pkl")
    p.add_argument("--out", type=Path, required=True, help="output folder (replaced atomically)")
    p.add_argument("--layout", default=None, help="built-in layout name or layout YAML path, copied into the set "
                                                  "(text: required; others: default chosen from V and C)")
    p.add_argument("--dataset", default=None, help="data set name recorded in meta.json (default: from the file name)")
    p.add_argument("--class-names", type=Path, default=None,
                   help="text file naming the classes, one a line, in label order (default: the labels themselves)")
    text = p.add_argument_group("text only", "one file per sequence (docs/your-own-data.md)")
    text.add_argument("--pattern", help="file name with fields, e.g. 'a{label}_s{subject}_e{rep}.txt'; {label} "
                                        "required, {subject} makes the xsub split, {view} the xview split")
    text.add_argument("--per-line", choices=("joint", "frame"), help="what one line holds (default joint)")
    text.add_argument("--columns", help="a joint's values in order (default x,y,z); x, y, z, score are kept, "
                                        "other names dropped, e.g. x,y,z,confidence")
    text.add_argument("--delimiter", help="between values (default: any whitespace), e.g. , or tab")
    text.add_argument("--skip-columns", type=int, help="values to drop at the start of every line (a frame number)")
    text.add_argument("--skip-lines", type=int, help="lines to drop at the top of every file (a CSV header)")
    text.add_argument("--first-label", type=int, help="the number of the first class when labels are numbers "
                                                      "(default 1: a01 is class 0)")
    text.add_argument("--train-subjects", help="comma-separated subjects of xsub's training part (default: odd ones)")
    text.add_argument("--train-views", help="comma-separated views of xview's training part (default: all but the last)")
    text.add_argument("--workers", type=int, help="parsing processes (default 1)")
    text.add_argument("--strict", action="store_true", help="an unreadable file is an error: exit 2, write nothing")
    p.set_defaults(func=run_import)

    p = commands.add_parser("info", help="check a prepared set and print what it holds")
    p.add_argument("path", type=Path, help="a prepared data set folder")
    p.set_defaults(func=run_info)

    p = commands.add_parser("relayout", help="a prepared set with its joints re-ordered, by name, into another layout")
    p.add_argument("path", type=Path, help="a prepared data set folder")
    p.add_argument("--layout", required=True, help="built-in layout name or layout YAML path (e.g. kinect_v1)")
    p.add_argument("--out", type=Path, required=True, help="output folder (replaced atomically)")
    p.set_defaults(func=run_relayout)


def run_synth(args: argparse.Namespace) -> int:
    out = make_synthetic(args.out, num_classes=args.classes, samples_per_class=args.per_class, persons=args.persons,
                         seed=args.seed, layout=args.layout, min_len=args.min_len, max_len=args.max_len,
                         view_jitter_deg=args.view_jitter)
    s = SkeletonSet.open(out)
    print(f"wrote {len(s)} samples, {s.num_classes} classes, {int(s.lengths.sum())} frames to {out}")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    prepare(args.name, args.raw, args.out, workers=args.workers, missing=args.missing, splits_dir=args.splits,
            strict=args.strict)
    return 0


TEXT_ONLY = ("pattern", "per_line", "columns", "delimiter", "skip_columns", "skip_lines", "first_label",
             "train_subjects", "train_views", "workers", "strict")


def run_import(args: argparse.Namespace) -> int:
    if args.format == "text":
        return run_import_text(args)
    given = [name for name in TEXT_ONLY if getattr(args, name)]
    if given:
        raise ConfigError(f"asma data import {args.format}", "--" + given[0].replace("_", "-"),
                          "only `asma data import text` takes it")
    meta = import_external(args.format, args.path, args.out, layout=args.layout, dataset=args.dataset,
                           class_names=args.class_names)
    print(f"wrote {meta['num_samples']} samples ({', '.join(meta['splits_summary'])}) to {args.out}")
    return 0


def listed(text: str | None) -> list[str]:
    return [v.strip() for v in (text or "").split(",") if v.strip()]


def run_import_text(args: argparse.Namespace) -> int:
    for option in ("layout", "pattern"):
        if not getattr(args, option):
            raise ConfigError(SOURCE, f"--{option}", "required (docs/your-own-data.md)")
    reader = TextReader(layout=args.layout, pattern=args.pattern, per_line=args.per_line or "joint",
                        columns=tuple(listed(args.columns or "x,y,z")),
                        delimiter={"\\t": "\t", "tab": "\t"}.get(args.delimiter, args.delimiter),
                        skip_columns=args.skip_columns or 0, skip_lines=args.skip_lines or 0,
                        first_label=1 if args.first_label is None else args.first_label,
                        class_names_file=args.class_names, train_subjects=listed(args.train_subjects),
                        train_views=listed(args.train_views), dataset=args.dataset or args.path.resolve().name)
    prepare_with(reader, args.path, args.out, workers=args.workers or 1, strict=args.strict)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from rich.console import Console

    s = SkeletonSet.open(args.path)
    s.layout  # noqa: B018 -- loads it: a lost layout file is an error here, not in a later run
    print_summary(Console(), s.meta.get("dataset", "set"), s.root, s.meta, s.splits)
    return 0


def run_relayout(args: argparse.Namespace) -> int:
    from rich.console import Console

    from asma.data.format import SkeletonSet
    from asma.data.relayout import relayout

    out = SkeletonSet.open(relayout(args.path, args.layout, args.out))
    Console().print(f"written {out.root}: {len(out)} samples, layout {out.meta['layout']} "
                    f"(joints from {args.path} in the order {out.meta['relayout']['joint_order']})", highlight=False)
    return 0
