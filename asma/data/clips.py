"""The torch Dataset: prepared samples -> fixed-size clips (C, T, V, M).

Each sample is first normalised as a whole (`data.normalise`, asma/data/normalise.py), then cut to
T frames by `data.sampling`:
- `crop_resize`, CTR-GCN's `valid_crop_resize`: a random share in [crop_min, crop_max] of the
  sample's frames for training, the centre `crop_max` share for evaluation, resized to T by linear
  interpolation;
- `uniform`, CTR-GCN's NW-UCLA feeder: T sorted random indices drawn from the frames repeated
  100 times for training (every frame can be drawn, and more than once in a short sample), T
  evenly spaced frames for evaluation.
Randomness is a function of (seed, epoch, index), so any worker and any resume draws the same clips.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from asma.config.schema import NormaliseConfig
from asma.data.format import SkeletonSet
from asma.data.normalise import normalise_sequence
from asma.skeleton.streams import to_stream


def crop_resize(frames: np.ndarray, window: int, share: float, start_frac: float) -> np.ndarray:
    """frames (T, M, V, C) -> (window, M, V, C): keep `share` of T from `start_frac` of the slack."""
    t = frames.shape[0]
    length = int(np.clip(round(t * share), min(2, t), t))
    start = int(round((t - length) * start_frac))
    segment = frames[start : start + length]
    if length == 1:
        return np.repeat(segment, window, axis=0)
    pos = np.linspace(0, length - 1, window)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, length - 1)
    w = (pos - lo)[:, None, None, None].astype(np.float32)
    return segment[lo] * (1 - w) + segment[hi] * w


def uniform_indices(length: int, window: int, rng: np.random.Generator | None) -> np.ndarray:
    """`window` frame indices of a `length`-frame sample: sorted random ones drawn from the frames
    repeated 100 times (CTR-GCN's NW-UCLA training feeder), or evenly spaced ones without `rng`."""
    if rng is None:
        return np.linspace(0, length - 1, window).round().astype(np.int64)
    pool = max(100 * length, window)
    return np.sort(rng.choice(pool, window, replace=False) % length)


class SkeletonClips(Dataset):
    """(clip (C, T, V, M) float32, label) pairs from a subset of a prepared set.

    `stream` is the input the encoders see: joint coordinates, bones (joint minus its parent on
    the layout's tree) or motion (next frame minus this one), computed on the resized clip.
    """

    def __init__(self, data: SkeletonSet, indices: np.ndarray, *, window: int, persons: int,
                 train: bool, crop_min: float = 0.5, crop_max: float = 1.0, seed: int = 0,
                 stream: str = "joint", sampling: str = "crop_resize",
                 normalise: NormaliseConfig | None = None):
        self.data = data
        self.indices = np.asarray(indices, dtype=np.int64)
        self.window = window
        self.persons = persons
        self.train = train
        self.crop_min, self.crop_max = crop_min, crop_max
        self.seed = seed
        self.stream = stream
        self.sampling = sampling
        self.normalise = normalise or NormaliseConfig()
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> np.ndarray:
        return self.data.labels[self.indices]

    def clip(self, i: int) -> np.ndarray:
        frames = normalise_sequence(np.asarray(self.data.sample(int(self.indices[i]))), self.data.layout,
                                    self.normalise)
        rng = np.random.default_rng((self.seed, self.epoch, int(self.indices[i]))) if self.train else None
        if self.sampling == "uniform":
            clip = frames[uniform_indices(frames.shape[0], self.window, rng)]
        else:
            share, start = (rng.uniform(self.crop_min, self.crop_max), rng.uniform()) if rng else (self.crop_max, 0.5)
            clip = crop_resize(frames, self.window, share, start)  # (T, M, V, C)
        m = clip.shape[1]
        if m >= self.persons:
            clip = clip[:, : self.persons]
        else:
            clip = np.concatenate([clip, np.zeros((self.window, self.persons - m, *clip.shape[2:]), np.float32)], 1)
        return np.ascontiguousarray(clip.transpose(3, 0, 2, 1), dtype=np.float32)  # (C, T, V, M)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        clip = torch.from_numpy(self.clip(i))
        if self.stream != "joint":
            clip = to_stream(clip[None], self.stream, self.data.layout)[0]
        return clip, int(self.labels[i])
