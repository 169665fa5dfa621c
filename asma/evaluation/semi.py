"""Semi-supervised evaluation: fine-tuning on a small labelled share of the training set.

For each fraction in cfg.eval.semi_fractions, cfg.eval.semi_repeats runs, each on its own
subset (seeded by eval.seed, fraction and repeat), report mean and standard deviation.
`balanced` draws the same number of clips from every class (at least one); `random` draws
uniformly (at least two, so a batch can be normalised).
"""
from __future__ import annotations

import numpy as np

from asma.config.schema import Config
from asma.errors import ConfigError
from asma.evaluation.finetune import clips_of, finetune_encoders
from asma.training.data import RunData


def labelled_subset(labels: np.ndarray, fraction: float, sampling: str, seed: int) -> np.ndarray:
    """Sorted positions into `labels` of a seeded subset of about `fraction` of them."""
    if not 0 < fraction <= 1:
        raise ConfigError("config", "eval.semi_fractions", f"fractions are shares in (0, 1], got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    if sampling == "random":
        size = min(len(labels), max(2, round(fraction * len(labels))))
        return np.sort(rng.choice(len(labels), size, replace=False))
    classes, counts = np.unique(labels, return_counts=True)
    per_class = max(1, round(fraction * len(labels) / len(classes)))
    # a random rank inside each class; keep the first per_class of every class
    order = rng.permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels)) - starts
    return np.flatnonzero(rank < per_class)


def subset_seed(cfg: Config, fraction: float, repeat: int) -> int:
    return cfg.eval.seed * 1_000_003 + round(fraction * 1e6) * 101 + repeat


def semi_protocol(cfg: Config, encoders, data: RunData, device, progress=None, features=None) -> dict:
    per_fraction: dict[str, dict] = {}
    train_indices, train_labels = data.train.indices, data.train.labels
    for fraction in cfg.eval.semi_fractions:
        runs = []
        for repeat in range(cfg.eval.semi_repeats):
            picked = labelled_subset(train_labels, fraction, cfg.eval.semi_sampling, subset_seed(cfg, fraction, repeat))
            train = clips_of(cfg, data.dataset, train_indices[picked], train=True)
            runs.append(finetune_encoders(cfg, encoders, train, data.test, data.num_classes, device, progress,
                                          f"semi {fraction:g} #{repeat + 1}"))
        top1, top5 = np.array([r["top1"] for r in runs]), np.array([r["top5"] for r in runs])
        per_fraction[f"{fraction:g}"] = {
            "top1": float(top1.mean()), "top1_std": float(top1.std()),
            "top5": float(top5.mean()), "top5_std": float(top5.std()),
            "labelled": [r["train_samples"] for r in runs], "runs": runs,
        }
    first = per_fraction[f"{cfg.eval.semi_fractions[0]:g}"]
    return {"top1": first["top1"], "top5": first["top5"], "sampling": cfg.eval.semi_sampling,
            "repeats": cfg.eval.semi_repeats, "fractions": per_fraction}
