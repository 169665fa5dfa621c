"""A study's fused rows (`fuse:` variants): several runs' linear probes read as one model.

The multi-stream literature (2s-AGCN, CTR-GCN; 3s-CrosSCLR, 3s-AimCLR, PSTL's three-stream rows)
trains one model per input stream and sums their softmax scores. A fused row does that with runs the
study already has: for each data set and seed where every member variant's run has its linear
probe's per-clip probabilities (evals/<run>.scores.npz, written by the evaluation), the row's
`linear` is the top-1 of their sum. It is a variant like the others in the tables (paired
difference to the default over the seeds it has), and the csv marks it with `fused_from`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from asma.evaluation.results import read_scores


def fused_rows(run_dir: Path, study: dict, rows: list[dict]) -> tuple[list[dict], list[str]]:
    """(one row per fused variant, data set and seed whose members all have scores; what could
    not be fused and why)."""
    by_run = {(r["variant"], r["dataset"], r["seed"]): r for r in rows}
    out, skipped = [], []
    for name, variant in study["variants"].items():
        members = variant.get("fuse")
        if not members:
            continue
        for dataset in (d["name"] for d in study["datasets"]):
            for seed in study["seeds"]:
                runs = [by_run.get((m, dataset, seed)) for m in members]
                if not all(runs):
                    continue  # a member not run yet: the row is missing, as an unfinished run's
                scores = [read_scores(run_dir / "evals" / f"{r['run']}.json") for r in runs]
                lacking = [r["run"] for r, s in zip(runs, scores) if s is None or "linear" not in s]
                if lacking:
                    skipped.append(f"{name}__{dataset}__seed{seed}: no linear scores of {', '.join(lacking)} "
                                   "(evaluated before scores were kept: `python -m experiments.rescore_linear`, "
                                   "from a source checkout, writes them)")
                    continue
                labels = scores[0]["labels"]
                if any(s["labels"].shape != labels.shape or not np.array_equal(s["labels"], labels) for s in scores):
                    skipped.append(f"{name}__{dataset}__seed{seed}: the members' test clips differ")
                    continue
                total = sum(s["linear"].astype(np.float32) for s in scores)
                top1 = float((total.argmax(axis=1) == labels).mean() * 100.0)
                out.append({"run": f"{name}__{dataset}__seed{seed}", "variant": name, "dataset": dataset,
                            "split": runs[0].get("split", ""), "seed": seed, "metrics": {"linear": top1},
                            "fused_from": [r["run"] for r in runs]})
    return out, skipped
