"""Pretrained minus random-init floor, on the synthetic set: linear probe and kNN top-1, settings x seeds.

Each job pretrains the smoke-size model (train.device=cpu, one thread) on a 10-class synthetic set,
evaluates its frozen encoders with the linear probe (`mean` alignment: a pure linear head) and kNN,
and does the same for randomly initialised encoders of the same config, whose BatchNorm statistics
are estimated on the training clips (asma/evaluation/protocols.py: random_encoders). Jobs run in
parallel processes; every result is appended to OUT/floor_margin.jsonl as it finishes and the
summary (mean margin and per-seed margins per setting) is printed at the end.

    .venv/bin/python -m experiments.floor_margin --settings budget --seeds 0,1,2,3 --workers 2
    .venv/bin/python -m experiments.floor_margin --settings budget,longer,harder --workers 16   # docs/method.md
    .venv/bin/python -m experiments.floor_margin --settings method_test --seeds 0,1,2,3 --workers 2  # 4 min

The figures in docs/method.md came from --workers 16 on a 16-core machine (about 4 minutes for
all three groups); on 2 cores the `budget` group alone takes about 2 minutes.
"""
from __future__ import annotations

import argparse
import json
import statistics
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


BT = ["optim.lr=0.005", "projector.dim=512", "projector.off_diagonal_weight=0.005"]  # laptop's Barlow Twins
METHOD_TEST = ["train.epochs=40", *BT, "data.synthetic.view_jitter_deg=40", "data.window=12"]
SETTINGS = {
    "budget": {  # the method test's budget (tests/test_method_end_to_end.py), and a control
        "1 epoch (control: almost the initial weights)": ["train.epochs=1"],
        "8 epochs": ["train.epochs=8"],
    },
    "longer": {
        "40 epochs": ["train.epochs=40"],
        "40 epochs, laptop BT": ["train.epochs=40", *BT],
        "40 epochs, lr 5e-3, 80 per class": ["train.epochs=40", "optim.lr=0.005", "data.synthetic.samples_per_class=80"],
    },
    "harder": {
        "40 epochs, laptop BT, view jitter 40": ["train.epochs=40", *BT, "data.synthetic.view_jitter_deg=40"],
    },
    "method_test": {  # tests/test_method_end_to_end.py's setting, without the jitter, and two controls
        "40 epochs, laptop BT, T = 12": ["train.epochs=40", *BT, "data.window=12"],
        "40 epochs, laptop BT, view jitter 40, T = 12": [*METHOD_TEST],
        "control: the same, 1 epoch": [*METHOD_TEST, "train.epochs=1"],
        "control: the same at lr 1e-9": [*METHOD_TEST, "optim.lr=0.000000001"],
    },
}
BASE = ["data.synthetic={num_classes: 10, samples_per_class: 30}", "train.threads=1", "train.device=cpu",
        "eval.epochs=100", "alignment.kind=mean"]


def overrides_for(setting: list[str], seed: int, cache: Path) -> list[str]:
    return [*BASE, f"data.cache_dir={cache}", f"train.seed={seed}", f"eval.seed={seed}", *setting]


def run_job(job: tuple[str, list[str], int, str, str]) -> dict:
    import torch

    torch.set_num_threads(1)
    from asma.evaluation.floor import pretrained_vs_floor

    name, setting, seed, cache, results = job
    scores = pretrained_vs_floor("smoke", overrides_for(setting, seed, Path(cache)))
    row = {"setting": name, "seed": seed, "overrides": setting, "seconds": scores["seconds"],
           "loss_first_last": scores["losses"]}
    for protocol in ("linear", "knn"):
        row[protocol] = {k: scores[k][protocol] for k in ("pretrained", "floor")}
    with open(results, "a") as f:
        f.write(json.dumps(row) + "\n")
    return row


def summary(rows: list[dict]) -> str:
    lines = ["| setting | linear: pretrained / floor | margins by seed | mean | kNN: pretrained / floor "
             "| margins by seed | mean |", "| --- | --- | --- | ---: | --- | --- | ---: |"]
    for name in dict.fromkeys(r["setting"] for r in rows):
        mine = sorted((r for r in rows if r["setting"] == name), key=lambda r: r["seed"])
        cells = [name]
        for protocol in ("linear", "knn"):
            p = statistics.mean(r[protocol]["pretrained"] for r in mine)
            f = statistics.mean(r[protocol]["floor"] for r in mine)
            margins = [r[protocol]["pretrained"] - r[protocol]["floor"] for r in mine]
            cells += [f"{p:.1f} / {f:.1f}", ", ".join(f"{m:+.1f}" for m in margins), f"{statistics.mean(margins):+.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--settings", default="budget", help=f"comma-separated groups: {', '.join(SETTINGS)}")
    p.add_argument("--seeds", default="0,1,2,3")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "floor_margin")
    args = p.parse_args(argv)
    unknown = [g for g in args.settings.split(",") if g not in SETTINGS]
    if unknown:
        p.error(f"--settings: unknown group(s) {unknown}; choose from {', '.join(SETTINGS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    cache, results = args.out / "cache", args.out / "floor_margin.jsonl"
    settings = {name: o for g in args.settings.split(",") for name, o in SETTINGS[g].items()}
    seeds = [int(s) for s in args.seeds.split(",")]
    from asma.training.data import build_run_data

    from asma.config.loading import load_config

    for setting in settings.values():  # each synthetic set generated once, before the workers start
        build_run_data(load_config("smoke", [f"out_dir={args.out}", *overrides_for(setting, 0, cache)]))
    jobs = [(name, o, s, str(cache), str(results)) for name, o in settings.items() for s in seeds]
    rows = []
    with get_context("spawn").Pool(args.workers) as pool:
        for row in pool.imap_unordered(run_job, jobs):
            rows.append(row)
            print(f"{row['setting']} seed {row['seed']}: linear {row['linear']}, knn {row['knn']} "
                  f"({row['seconds']} s)", flush=True)
    print(summary(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
