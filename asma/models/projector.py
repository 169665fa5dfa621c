"""Barlow Twins projector: (Linear -> BN -> ReLU) x (layers - 1) -> Linear, no biases (PSTL)."""
from __future__ import annotations

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
