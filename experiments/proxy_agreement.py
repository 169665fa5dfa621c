"""How well the search proxy (the training loop's per-epoch kNN) agrees with the final evaluation.

Up to commit c551efa the proxy read features with the pretraining BatchNorm statistics, where
`run_protocols` (what reports use) re-estimates them first (eval.precise_bn); since then the proxy
re-estimates them too, so for a study run at a later commit the two agree by construction and
this checks that they do. For every run of a finished ablation study that
reported both, this pairs the last epoch's proxy `knn_top1` with the calibrated `eval/knn` from the
Tune trial's result.json, and prints per-variant means, the mean difference and the per-run
Spearman correlation. No training: it reads what the study wrote.

    .venv/bin/python -m experiments.proxy_agreement runs/ablations/msr_action3d   # docs/method.md
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from scipy.stats import spearmanr


def pairs(study_dir: Path) -> list[tuple[str, float, float]]:
    """(variant, last proxy kNN, calibrated kNN) for every trial that reported both."""
    found = []
    for result in sorted(study_dir.glob("tune/*/result.json")):
        rows = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        proxy = [r["knn_top1"] for r in rows if "knn_top1" in r]
        final = [r["eval/knn"] for r in rows if "eval/knn" in r]
        record = study_dir / "runs" / f"{rows[-1]['run']}.json"  # the finished run's record
        if proxy and final and record.exists():
            found.append((json.loads(record.read_text())["variant"], proxy[-1], final[-1]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", type=Path, help="an `asma ablate` output folder (holds tune/)")
    args = parser.parse_args()
    found = pairs(args.study_dir)
    if len(found) < 3:
        sys.exit(f"{args.study_dir}: {len(found)} runs with both a proxy and a kNN evaluation; need 3 "
                 "(run the study with the knn protocol first)")
    print(f"{'variant':12s} {'runs':>4s} {'proxy':>7s} {'calibrated':>10s}")
    for variant in dict.fromkeys(v for v, _, _ in found):
        mine = [(p, c) for v, p, c in found if v == variant]
        print(f"{variant:12s} {len(mine):4d} {statistics.mean(p for p, _ in mine):7.1f} "
              f"{statistics.mean(c for _, c in mine):10.1f}")
    diffs = [p - c for _, p, c in found]
    rho = spearmanr([p for _, p, _ in found], [c for _, _, c in found]).statistic
    print(f"{len(found)} runs: proxy - calibrated {statistics.mean(diffs):+.1f} on average, "
          f"{statistics.mean(abs(d) for d in diffs):.1f} mean absolute, {max(abs(d) for d in diffs):.1f} at most; "
          f"Spearman {rho:.2f}")


if __name__ == "__main__":
    main()
