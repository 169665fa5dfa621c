"""Downstream models (alignment module + linear classifier) and how protocols train them.

The classifier sees the fused representation through a BatchNorm without affine parameters
(MAE's linear probe does the same): it puts features of any encoder and any scale on one footing
at no cost in expressiveness for a linear head.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from rich.progress import Progress
from torch.utils.data import DataLoader, Dataset

from asma.config.schema import AlignmentConfig, Config
from asma.models.alignment import AlignmentHead
from asma.objectives.alignment import alignment_loss
from asma.training.loop import lr_at, make_optimizer


class AlignedClassifier(nn.Module):
    """features (N, E, D) -> (logits (N, K), aligned (N, E, D))."""

    def __init__(self, cfg: AlignmentConfig, num_encoders: int, feature_dim: int, num_classes: int,
                 norm: bool = True):
        super().__init__()
        self.alignment = AlignmentHead(cfg, num_encoders, feature_dim)
        self.norm = nn.BatchNorm1d(self.alignment.out_dim, affine=False) if norm else nn.Identity()
        self.head = nn.Linear(self.alignment.out_dim, num_classes)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fused, aligned = self.alignment(feats)
        return self.head(self.norm(fused)), aligned


class EncoderClassifier(nn.Module):
    """clips (N, C, T, V, M) -> (logits (N, K), aligned (N, E, D)): encoders, alignment, head."""

    def __init__(self, encoders: dict[str, nn.Module], classifier: AlignedClassifier):
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = torch.stack([enc(x) for enc in self.encoders.values()], dim=1)
        return self.classifier(feats)


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, aligned: torch.Tensor,
                        cfg: AlignmentConfig, label_smoothing: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy + loss_weight * alignment loss (the latter only with >= 2 encoders)."""
    ce = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    if aligned.shape[1] < 2 or cfg.loss_weight == 0:
        return ce, {"ce": float(ce.detach())}
    align = alignment_loss(aligned)
    return ce + cfg.loss_weight * align, {"ce": float(ce.detach()), "align": float(align.detach())}


@torch.no_grad()
def recompute_batchnorm_stats(model: nn.Module, dataset: Dataset, device: torch.device, batch_size: int) -> None:
    """Every BatchNorm's running statistics re-estimated with the final weights ("precise BN"): one
    pass over `dataset` of (input, label) pairs, averaging all batches.

    After a short fine-tuning the exponential averages still hold much of their start (random
    init: mean 0, var 1) and test accuracy falls to chance; in a probe whose alignment module
    trains, the averages also lag the module. One forward pass fixes both.

    `batch_size` should be the one the model trained at: a batch's variance over its clips' frames
    and joints grows with the number of clips in it (the frames of one clip are far from
    independent), and the model learnt to expect the statistics of its training batches
    (experiments/precise_bn.py, docs/method.md). Each batch counts equally, the last, smaller one too; the
    clips are in name order, so that batch holds the last classes. Weighing batches by their clips
    instead moved the synthetic method test's linear margins by up to 12 points (docs/method.md):
    an open question, so the estimate stays the one every committed table used.

    Only the BatchNorms run in training mode; dropout does not drop. Dropout's masks would inflate
    the variances the next BatchNorm estimates: PSTL's encoders (dropout 0.5, 20 epochs on MSR
    Action3D) read 39.8% linear with them on, 41.1% with them off (docs/method.md, "Against
    PSTL's own code"). Every committed table used encoders without dropout, where the two
    estimates are the same.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the pass
    model.eval()  # the network as it will be read (dropout off: its masks would inflate the
    for m in norms:  # variances the next BatchNorm estimates); only the BatchNorms gather statistics
        m.train()
    with torch.no_grad():  # statistics only: no graph to keep
        for x, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            if x.shape[0] > 1:
                model(x.to(device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.train()  # as before the pass: callers put it in eval mode to read it


def eval_optimizer(params, cfg: Config, lr: float) -> torch.optim.Optimizer:
    """The pretraining optimizer kind (cfg.optim) at the protocol's learning rate."""
    return make_optimizer(params, cfg.optim.model_copy(update={"lr": lr}))


def set_epoch_lr(optimizer: torch.optim.Optimizer, cfg: Config, lr: float, epoch: int, epochs: int) -> None:
    """Cosine decay from `lr` over the protocol's epochs (no warm-up)."""
    schedule = cfg.optim.model_copy(update={"lr": lr, "warmup_epochs": 0, "schedule": "cosine"})
    for group in optimizer.param_groups:
        group["lr"] = lr_at(epoch, epochs, schedule)


class EpochProgress:
    """One rich progress bar row per training run; a no-op without a Progress."""

    def __init__(self, progress: Progress | None, name: str, total: int, done: int = 0):
        self.progress, self.name = progress, name
        self.task = progress.add_task(name, total=total, completed=done) if progress is not None else None

    @classmethod
    def of(cls, progress: Progress | None, name: str, total: int, done: int = 0) -> "EpochProgress":
        return cls(progress, name, total, done)

    def advance(self, loss: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=1, description=f"{self.name}  loss {loss:.3f}")

    def __enter__(self) -> "EpochProgress":
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=self.name)
