"""Frozen features of every encoder of a run, for kNN and cached linear probes."""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset


@torch.no_grad()
def extract_features(encoders: dict[str, nn.Module], dataset: Dataset, device: torch.device,
                     batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """-> features (N, E, D) for the E encoders in order, labels (N,). Encoders in eval mode."""
    modes = {name: enc.training for name, enc in encoders.items()}
    for enc in encoders.values():
        enc.eval()
    feats, labels = [], []
    try:
        for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            x = x.to(device, non_blocking=True)
            feats.append(torch.stack([enc(x) for enc in encoders.values()], dim=1).cpu())
            labels.append(torch.as_tensor(y))
    finally:
        for name, enc in encoders.items():
            enc.train(modes[name])
    return torch.cat(feats), torch.cat(labels)
