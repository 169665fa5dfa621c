"""Weighted kNN on frozen features (Wu et al. 2018), the cheap proxy metric of searches."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def knn_predict_scores(train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor,
                       num_classes: int, k: int = 20, temperature: float = 0.1,
                       chunk: int = 1024) -> torch.Tensor:
    """(M, num_classes) class scores of each test row from its k most cosine-similar train rows."""
    # each encoder's feature normalised on its own, so no encoder dominates the concatenation
    train = F.normalize(F.normalize(train, dim=-1).flatten(1), dim=1)
    test = F.normalize(F.normalize(test, dim=-1).flatten(1), dim=1)
    k = min(k, train.shape[0])
    scores = []
    for start in range(0, test.shape[0], chunk):
        sim = test[start : start + chunk] @ train.T
        top_sim, top_idx = sim.topk(k, dim=1)
        weights = (top_sim / temperature).exp()
        one_hot = F.one_hot(train_labels[top_idx], num_classes).float()
        scores.append((weights[..., None] * one_hot).sum(1))
    return torch.cat(scores)


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> dict[str, float]:
    """{'top1': %, 'top5': %} (k capped at the number of classes)."""
    out = {}
    for k in ks:
        kk = min(k, scores.shape[1])
        hit = (scores.topk(kk, dim=1).indices == labels[:, None]).any(1).float().mean().item()
        out[f"top{k}"] = 100.0 * hit
    return out


def knn_accuracy(train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor, test_labels: torch.Tensor,
                 num_classes: int, k: int = 20, temperature: float = 0.1) -> dict[str, float]:
    scores = knn_predict_scores(train, train_labels, test, num_classes, k, temperature)
    return topk_accuracy(scores, test_labels)
