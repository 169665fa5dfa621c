"""How much of a linear probe's seed-to-seed spread is the probe's own?

A study's seed k pretrains with train.seed = k and probes with eval.seed = k, so the spread of its
linear column mixes two sources: the pretraining (weights) and the probe (head initialisation
and batch order on fixed features). This bench keeps each pretrained model fixed, extracts its
features once (as run_protocols does: BatchNorm re-estimated, evaluation crops), trains the
linear head with eval.seed 0..N-1 and reports, per model, the mean and standard deviation of
top-1 over the probe seeds; then the probe's pooled standard deviation beside the spread of the
models' means (what pretraining adds). If the probe's share is large, averaging several probe
seeds per run is a cheap way to tighten a study's confidence intervals.

  .venv/bin/python -m experiments.probe_noise records/ablations/real_converged/runs/asma__msr_action3d__seed{0,1,2}.json \\
      --probe-seeds 10 --out docs/results/probe_noise.json

Each argument is what `asma eval` takes: an ablation run record (its Tune checkpoint must be
there), a run folder or a checkpoint file.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path


def probe_seeds_of(source: str, seeds: int, threads: int) -> dict:
    import torch

    from asma.evaluation.knn import topk_accuracy
    from asma.evaluation.linear import probe_logits
    from asma.evaluation.protocols import checkpoint_features, find_checkpoint

    torch.set_num_threads(threads)
    started = time.perf_counter()
    cfg, data, features = checkpoint_features(source)
    top1 = []
    for seed in range(seeds):
        probe_cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"seed": seed})})
        top1.append(float(topk_accuracy(probe_logits(probe_cfg, features, data.num_classes), features[3])["top1"]))
    return {"source": str(source), "checkpoint": str(find_checkpoint(source)), "train_seed": cfg.train.seed,
            "views": list(cfg.masking.views), "top1": top1, "mean": statistics.mean(top1),
            "sd": statistics.stdev(top1) if len(top1) > 1 else 0.0,
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+")
    parser.add_argument("--probe-seeds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    models = []
    for source in args.sources:
        model = probe_seeds_of(source, args.probe_seeds, args.threads)
        models.append(model)
        print(f"{source}: top-1 {model['mean']:.1f} ± {model['sd']:.1f} over {args.probe_seeds} probe seeds "
              f"(range {min(model['top1']):.1f}-{max(model['top1']):.1f}; {model['seconds']} s)", flush=True)
    within = statistics.mean(m["sd"] ** 2 for m in models) ** 0.5
    between = statistics.stdev(m["mean"] for m in models) if len(models) > 1 else 0.0
    summary = {"probe_sd_pooled": within, "sd_of_model_means": between, "probe_seeds": args.probe_seeds,
               "models": models, "machine": {"cpus": os.cpu_count(), "load": round(os.getloadavg()[0], 2)}}
    print(f"probe's own sd (pooled over {len(models)} models): {within:.2f} points; "
          f"sd of the models' means: {between:.2f} points")
    if args.out:
        from asma.data.atomic import write_json_atomic

        write_json_atomic(args.out, summary)


if __name__ == "__main__":
    main()
