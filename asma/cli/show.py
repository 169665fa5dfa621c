"""`asma show DATASET SAMPLE [--masks a,b] [--config C] --out FILE.png`: a sample with its masks."""
from __future__ import annotations

import argparse

import numpy as np

from asma.config import load_config
from asma.data.clips import SkeletonClips
from asma.errors import ConfigError
from asma.training.data import open_dataset
from asma.visualize.masks import plot_view_masks


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="draw a sample's skeleton and motion with each view's masks")
    p.add_argument("dataset", help="a prepared data set folder, or 'synthetic'")
    p.add_argument("sample", help="sample index or name (e.g. a01_s01_e01)")
    p.add_argument("--masks", default="a,b", help="named views of masking.specs (default a,b)")
    p.add_argument("--config", default=None, help="config or preset whose mask specs and window to use")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="PNG file to write")
    p.set_defaults(func=run)


def find_sample(names: list[str], sample: str) -> int:
    if sample.isdigit() and int(sample) < len(names):
        return int(sample)
    matches = [i for i, n in enumerate(names) if n == sample or n.startswith(sample)]
    if not matches:
        raise ConfigError("show", "sample", f"no sample named {sample!r} (e.g. {names[0]!r}, or an index < {len(names)})")
    return matches[0]


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, [f"data.path={args.dataset}", *args.overrides])
    data = open_dataset(cfg.data)
    index = find_sample(data.names, args.sample)
    names = [v.strip() for v in args.masks.split(",") if v.strip()]
    unknown = [v for v in names if v not in cfg.masking.specs]
    if unknown:
        raise ConfigError("--masks", ",".join(unknown), f"not in masking.specs ({', '.join(cfg.masking.specs)})")
    clips = SkeletonClips(data, np.array([index]), window=cfg.data.window, persons=cfg.data.persons,
                          train=False, crop_max=1.0)
    clip = clips.clip(0)
    label = data.class_names[int(data.labels[index])]
    out = plot_view_masks(clip, data.layout, {v: cfg.masking.specs[v] for v in names}, args.out,
                          title=f"{data.meta.get('dataset', '')} {data.names[index]} ({label}), T={cfg.data.window}",
                          seed=args.seed)
    print(out)
    return 0
