"""Which window around an MSRC-12 action point: the raw-input linear probe on the validation split.

For each (frames before, frames after) the action point's frame, the set is prepared with that
window and the raw-input reference (asma.evaluation.raw_input: standardised logistic regression on
the clip, the `real` preset's T = 40 evenly spaced frames) is scored on `xsub_val`: training
subjects only, so the choice never reads a test clip. Backs docs/method.md, "MSRC-12: a clip per
action point, and validation splits".

    python -m experiments.msrc12_window --raw /path/to/MicrosoftGestureDataset-RC --out /tmp/msrc12_windows
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

WINDOWS = ((19, 10), (29, 10), (39, 10), (59, 10), (79, 10), (39, 0), (39, 20), (39, 40))


def score_window(raw: Path, out: Path, before: int, after: int, split: str) -> dict:
    from asma.experiments.evaluate import evaluate_reference
    from asma.config.loading import load_config
    from asma.data.prepare import prepare
    from asma.training.data import build_run_data

    folder = out / f"w{before}_{after}"
    if not (folder / "meta.json").exists():
        prepare("msrc12", raw, folder, workers=2, progress=False, window=(before, after))
    cfg = load_config("real", [f"data.path={folder}", f"data.split={split}", f"out_dir={out}"])
    metrics = evaluate_reference(cfg, build_run_data(cfg), "raw", ["linear", "knn"], folder / "raw.json")
    return {"before": before, "after": after, "frames": before + after + 1, "split": split, **metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", default="xsub_val")
    args = parser.parse_args()
    started, rows = time.time(), []
    for before, after in WINDOWS:
        rows.append(score_window(args.raw, args.out, before, after, args.split))
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"seconds": round(time.time() - started), "load": os.getloadavg()}))


if __name__ == "__main__":
    main()
