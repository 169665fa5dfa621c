"""Keep the linear probe's per-clip scores of runs evaluated before they were kept.

A study's fused rows (`fuse:` variants, asma/reports/fusion.py) read each member run's
evals/<run>.scores.npz, which the evaluation writes since the fused rows exist. For a run evaluated
earlier this script repeats its linear probe from its checkpoint exactly as the evaluation ran it
(the run's config, BatchNorm re-estimated, its own eval.seed), checks that the top-1 equals the one
its record holds, and only then writes the scores beside its evaluation record. A run whose probe
does not reproduce is named and left alone.

  .venv/bin/python -m experiments.rescore_linear records/ablations/real_converged/runs/asma__msr_action3d__seed*.json

Each argument is an ablation run record; its Tune checkpoint must be in the study's tune/ folder
(or pass --checkpoint-root with the run folders that `asma pool run --work` left).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def rescore(record_path: Path, checkpoint_root: Path | None, threads: int) -> str:
    import torch

    from asma.evaluation.knn import topk_accuracy
    from asma.evaluation.linear import probe_logits
    from asma.evaluation.protocols import checkpoint_features
    from asma.evaluation.results import read_scores, write_scores

    torch.set_num_threads(threads)
    record = json.loads(record_path.read_text())
    eval_path = record_path.parent.parent / "evals" / record_path.name
    if (read_scores(eval_path) or {}).get("linear") is not None:
        return "has its scores already"
    source = record_path
    if checkpoint_root is not None:
        source = checkpoint_root / record_path.parent.parent.name / record["run"]
    cfg, data, features = checkpoint_features(source)
    logits, test_y = probe_logits(cfg, features, data.num_classes), features[3]
    top1 = float(topk_accuracy(logits, test_y)["top1"])
    expected = float(record["metrics"]["linear"])
    if abs(top1 - expected) > 1e-6:
        return f"NOT written: the probe gave {top1:.4f}, the record {expected:.4f}"
    write_scores(eval_path, {"linear": logits.softmax(dim=1).numpy()}, test_y.numpy())
    return f"written (top-1 {top1:.1f} as recorded)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="+", type=Path)
    parser.add_argument("--checkpoint-root", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    failed = 0
    for record in args.records:
        outcome = rescore(record, args.checkpoint_root, args.threads)
        failed += outcome.startswith("NOT")
        print(f"{record}: {outcome}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
