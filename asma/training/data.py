"""Build the data a run needs from its config: the prepared set (or the synthetic one) and clips."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from asma.config.schema import Config, DataConfig
from asma.data.clips import SkeletonClips
from asma.data.format import SkeletonSet
from asma.data.synthetic import ensure_synthetic


def open_dataset(cfg: DataConfig) -> SkeletonSet:
    """The prepared set named by `data.path`; 'synthetic' generates (once) the embedded default."""
    if cfg.path == "synthetic":

        s = cfg.synthetic
        root = ensure_synthetic(Path(cfg.cache_dir), num_classes=s.num_classes,
                                samples_per_class=s.samples_per_class, persons=s.persons, seed=s.seed,
                                view_jitter_deg=s.view_jitter_deg)
        return SkeletonSet.open(root)
    return SkeletonSet.open(Path(cfg.path).expanduser())


def clip_options(d: DataConfig) -> dict:
    """The SkeletonClips keyword arguments a data config sets (all but train and seed)."""
    return dict(window=d.window, persons=d.persons, crop_min=d.crop_min, crop_max=d.crop_max, stream=d.stream,
                sampling=d.sampling, normalise=d.normalise)


@dataclass
class RunData:
    """The sets of one run: unlabelled pretraining clips, and labelled train/test clips for probes."""

    dataset: SkeletonSet
    pretrain: SkeletonClips
    train: SkeletonClips
    test: SkeletonClips

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    @property
    def in_channels(self) -> int:
        return int(self.dataset.meta["channels"])


def build_run_data(cfg: Config, dataset: SkeletonSet | None = None) -> RunData:
    d = cfg.data
    dataset = dataset or open_dataset(d)
    train_idx = dataset.split_indices(d.split, d.train_part)
    test_idx = dataset.split_indices(d.split, d.test_part)
    common = dict(clip_options(d), seed=cfg.train.seed)
    return RunData(
        dataset=dataset,
        pretrain=SkeletonClips(dataset, train_idx, train=True, **common),
        train=SkeletonClips(dataset, train_idx, train=False, **common),
        test=SkeletonClips(dataset, test_idx, train=False, **common),
    )
