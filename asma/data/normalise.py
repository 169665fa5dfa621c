"""Per-sequence normalisation, so that position, scale and facing are comparable across subjects.

Applied to a whole prepared sample (T, M, V, C) before cropping; absent bodies (all-zero frames of
a person) stay zero. The options are those of the field's feeders (docs/method.md, "Data pipeline"):

- `centre`: `first_frame` subtracts the layout's origin joint of person 1 in its first present
  frame (CTR-GCN's NTU preparation, and what `asma data prepare` already stores); `every_frame`
  subtracts it frame by frame (AimCLR/PSTL's NTU preparation: the body stays put, global
  translation is lost); `none` keeps the coordinates as prepared.
- `scale`: `body` divides by person 1's mean bone length (one factor per sequence: the aspect
  ratio is kept); `minmax` maps each axis to [-1, 1] over the sequence (CTR-GCN's NW-UCLA feeder,
  which stretches each axis on its own); `none` keeps metres.
- `face_front`: rotate about the vertical (y) axis so that person 1's shoulders lie along x in
  the first present frame (AimCLR/PSTL's NTU preparation rotates the same way).
"""
from __future__ import annotations

import numpy as np

from asma.config.schema import NormaliseConfig
from asma.errors import ConfigError
from asma.skeleton.layout import Layout

VERTICAL_AXIS = 1  # y is up in every 3D layout here (Kinect v1/v2, MSR Action3D)


def present_frames(frames: np.ndarray) -> np.ndarray:
    """(T, M, V, C) -> (T, M) bool: the person has a non-zero skeleton in that frame."""
    return frames.any(axis=(2, 3))


def shoulder_joints(layout: Layout) -> tuple[int, int]:
    names = ("left_shoulder", "right_shoulder")
    if not all(n in layout.joints for n in names):
        raise ConfigError(f"layout {layout.name}", "data.normalise.face_front",
                          "needs joints named left_shoulder and right_shoulder in the layout; set it false")
    return layout.joints.index(names[0]), layout.joints.index(names[1])


def facing_rotation(frames: np.ndarray, first: int, layout: Layout) -> np.ndarray:
    """(3, 3) rotation about y taking person 1's left-to-right shoulder vector in frame `first` to +x."""
    left, right = shoulder_joints(layout)
    across = frames[first, 0, right] - frames[first, 0, left]
    angle = np.arctan2(across[2], across[0])  # from +x toward +z
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=np.float32)


def mean_bone_length(frames: np.ndarray, present: np.ndarray, layout: Layout) -> float:
    """Person 1's bone length averaged over its bones and present frames."""
    body = frames[present[:, 0], 0, :, : layout.coord_dims]  # (T', V, C)
    parents = layout.bone_parents
    bones = np.flatnonzero(parents != np.arange(layout.num_joints))
    return float(np.linalg.norm(body[:, bones] - body[:, parents[bones]], axis=-1).mean())


def normalise_sequence(frames: np.ndarray, layout: Layout, cfg: NormaliseConfig) -> np.ndarray:
    """(T, M, V, C) float32 -> the same, normalised as `cfg` says (module docstring)."""
    if cfg.centre == "none" and cfg.scale == "none" and not cfg.face_front:
        return frames
    present = present_frames(frames)
    first = np.flatnonzero(present[:, 0])
    if first.size == 0:
        return frames
    d = layout.coord_dims
    out = frames.astype(np.float32, copy=True)
    coords = out[..., :d]  # a view: confidence channels of 2D layouts stay as they are
    if cfg.centre == "first_frame":
        coords -= frames[first[0], 0, layout.origin, :d]
    elif cfg.centre == "every_frame":
        anchor = frames[:, 0, layout.origin, :d].copy()  # (T, C); person 1 absent: last seen anchor
        seen = np.maximum.accumulate(np.where(present[:, 0], np.arange(len(frames)), first[0]))
        coords -= anchor[seen][:, None, None, :]
    if cfg.face_front:
        if d != 3:
            raise ConfigError(f"layout {layout.name}", "data.normalise.face_front",
                              "rotates 3D skeletons only; set it false for a 2D layout")
        coords[...] = coords @ facing_rotation(out, int(first[0]), layout).T
    if cfg.scale == "body":
        length = mean_bone_length(out, present, layout)
        if length > 0:
            coords /= length
    elif cfg.scale == "minmax":
        valid = coords[present]  # (P, V, C)
        low, high = valid.min(axis=(0, 1)), valid.max(axis=(0, 1))
        coords[...] = (coords - low) / np.maximum(high - low, 1e-6) * 2 - 1
    return np.where(present[:, :, None, None], out, 0.0).astype(np.float32)
