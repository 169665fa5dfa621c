"""Fine-tuning: encoders + alignment module + linear head trained end to end on labelled clips.

Clip level, with the pretraining augmentations (asma/data/transforms.py `augment`) and random
valid-frame crops; the encoders are copies, so the pretrained ones stay as they were. The same
function serves `finetune`, `semi` (a labelled subset), `transfer` (another data set) and
`supervised` (randomly initialised encoders: the ceiling of the tables).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from asma.config.schema import Config
from asma.data.clips import SkeletonClips
from asma.data.format import SkeletonSet
from asma.data.transforms import augment
from asma.evaluation.heads import (AlignedClassifier, EncoderClassifier, EpochProgress, classification_loss,
                                   eval_optimizer, recompute_batchnorm_stats, set_epoch_lr)
from asma.evaluation.knn import topk_accuracy
from asma.training.data import RunData
from asma.training.runtime import epoch_loader


def clips_of(cfg: Config, dataset: SkeletonSet, indices: np.ndarray, train: bool) -> SkeletonClips:
    """Clips of `indices` with the run's window, persons and crop settings."""
    d = cfg.data
    return SkeletonClips(dataset, indices, window=d.window, persons=d.persons, train=train,
                         crop_min=d.crop_min, crop_max=d.crop_max, seed=cfg.eval.seed, stream=d.stream)


@torch.no_grad()
def evaluate_clips(model: nn.Module, clips: SkeletonClips, device: torch.device, batch_size: int = 256) -> dict:
    """{'top1', 'top5'} of `model` (clips -> (logits, aligned)) on `clips`, in eval mode."""
    model.eval()
    logits, labels = [], []
    for x, y in DataLoader(clips, batch_size=batch_size, shuffle=False):
        logits.append(model(x.to(device))[0].cpu())
        labels.append(y)
    return topk_accuracy(torch.cat(logits), torch.cat(labels))


def finetune_encoders(cfg: Config, encoders: dict[str, nn.Module], train: SkeletonClips, test: SkeletonClips,
                      num_classes: int, device: torch.device, progress=None, name: str = "finetune") -> dict:
    """Train copies of `encoders` + alignment + head on `train` for cfg.eval.finetune_epochs; score on `test`."""
    model = train_classifier(cfg, encoders, train, num_classes, device, progress, name)
    return {**evaluate_clips(model, test, device), "epochs": cfg.eval.finetune_epochs, "train_samples": len(train),
            "test_samples": len(test)}


def train_classifier(cfg: Config, encoders: dict[str, nn.Module], train: SkeletonClips, num_classes: int,
                     device: torch.device, progress=None, name: str = "finetune") -> EncoderClassifier:
    """Copies of `encoders` + alignment + head trained end to end on `train` with the labels
    (cfg.eval.finetune_epochs, finetune_lr, augmentations), BatchNorm statistics re-estimated at the end."""
    torch.manual_seed(cfg.eval.seed)
    copies = {view: copy.deepcopy(enc) for view, enc in encoders.items()}
    feature_dim = next(iter(copies.values())).feature_dim
    model = EncoderClassifier(copies, AlignedClassifier(cfg.alignment, len(copies), feature_dim, num_classes))
    model.to(device)
    layout = train.data.layout
    lr, epochs = cfg.eval.finetune_lr, cfg.eval.finetune_epochs
    optimizer = eval_optimizer(model.parameters(), cfg, lr)
    generator = torch.Generator(device=device).manual_seed(cfg.eval.seed)
    if len(train) < 2:
        raise ValueError(f"{name}: {len(train)} labelled clip(s); fine-tuning needs at least 2")
    batch = min(cfg.eval.batch_size, len(train))
    with EpochProgress.of(progress, name, epochs) as bar:
        for epoch in range(epochs):
            set_epoch_lr(optimizer, cfg, lr, epoch, epochs)
            train.set_epoch(epoch)
            model.train()
            for x, y in epoch_loader(train, batch, shuffle=True, epoch=epoch, seed=cfg.eval.seed):
                x = augment(x.to(device), cfg.augment, layout, generator)
                logits, aligned = model(x)
                loss, _ = classification_loss(logits, y.to(device), aligned, cfg.alignment)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            bar.advance(float(loss.detach()))
    recompute_batchnorm_stats(model, clips_of(cfg, train.data, train.indices, train=False), device, batch)
    return model.eval()


def finetune_protocol(cfg: Config, encoders, data: RunData, device, progress=None, features=None) -> dict:
    train = clips_of(cfg, data.dataset, data.train.indices, train=True)
    return finetune_encoders(cfg, encoders, train, data.test, data.num_classes, device, progress, "finetune")
