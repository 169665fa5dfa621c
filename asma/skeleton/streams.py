"""Joint, bone, motion and bone-motion streams of a skeleton sequence, for tensors shaped (N, C, T, V, M):
the four inputs of the multi-stream GCNs (MS-G3D, CTR-GCN ensembles)."""
from __future__ import annotations

import torch

from asma.skeleton.layout import Layout

STREAMS = ("joint", "bone", "motion", "bone_motion")


def bone_stream(x: torch.Tensor, layout: Layout) -> torch.Tensor:
    """x[v] - x[parent(v)] along the tree rooted at the layout's centre; zero at the centre."""
    parents = torch.as_tensor(layout.bone_parents, device=x.device)
    return x - x.index_select(3, parents)


def motion_stream(x: torch.Tensor) -> torch.Tensor:
    """x[t + 1] - x[t], zero at the last frame (PSTL's `motion` view)."""
    motion = torch.zeros_like(x)
    motion[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    return motion


def to_stream(x: torch.Tensor, stream: str, layout: Layout) -> torch.Tensor:
    if stream == "joint":
        return x
    if stream == "bone":
        return bone_stream(x, layout)
    if stream == "motion":
        return motion_stream(x)
    if stream == "bone_motion":
        return motion_stream(bone_stream(x, layout))
    raise ValueError(f"unknown stream {stream!r}; choose one of {STREAMS}")
