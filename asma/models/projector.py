"""Barlow Twins projector: (Linear -> BN -> ReLU) x (layers - 1) -> Linear, no biases (PSTL)."""
from __future__ import annotations

import torch
import torch.nn as nn

from asma.config.schema import ProjectorConfig


def make_projector(in_dim: int, cfg: ProjectorConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(cfg.layers - 1):
        layers += [nn.Linear(dim, cfg.dim, bias=False), nn.BatchNorm1d(cfg.dim), nn.ReLU(inplace=True)]
        dim = cfg.dim
    layers.append(nn.Linear(dim, cfg.dim, bias=False))
    return nn.Sequential(*layers)


def project_streams(projector: nn.Sequential, feats: list[torch.Tensor]) -> list[torch.Tensor]:
    """`projector` applied to each stream's features (N_i, D) alone, with its Linear layers run once
    over all streams stacked: one matrix product (and one weight gradient) per layer instead of one
    per stream, which on the 6144-wide projector is most of its cost. BatchNorm still standardises
    each stream over its own batch and updates its running statistics stream by stream, in order."""
    sizes = [f.shape[0] for f in feats]
    z = torch.cat(feats)
    for layer in projector:
        if isinstance(layer, nn.BatchNorm1d):
            z = torch.cat([layer(part) for part in z.split(sizes)])
        else:
            z = layer(z)
    return list(z.split(sizes))
