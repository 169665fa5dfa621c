"""Linear evaluation: frozen encoders, alignment module + linear head trained on cached features.

The encoders run once over the train and test clips (evaluation crops: the centre of the valid
frames, no augmentation) and the head trains on those tensors. That is PSTL's linear protocol
without its clip-level augmentation: feature-level, augmentation-free, and one encoder pass in
all instead of one per epoch.
"""
from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from asma.config.schema import Config
from asma.evaluation.features import extract_features
from asma.evaluation.heads import (AlignedClassifier, EpochProgress, classification_loss, eval_optimizer,
                                   recompute_batchnorm_stats, set_epoch_lr)
from asma.evaluation.knn import knn_accuracy, topk_accuracy
from asma.evaluation.results import SCORES_KEY
from asma.training.data import RunData


def cached_features(encoders, data: RunData, device) -> tuple[torch.Tensor, ...]:
    train, train_y = extract_features(encoders, data.train, device)
    test, test_y = extract_features(encoders, data.test, device)
    return train, train_y, test, test_y


def train_linear_head(cfg: Config, train: torch.Tensor, train_y: torch.Tensor, num_classes: int,
                      progress: EpochProgress | None = None) -> AlignedClassifier:
    """Alignment module + linear head on features (N, E, D), cfg.eval.epochs/lr/batch_size."""
    generator = torch.Generator().manual_seed(cfg.eval.seed)
    torch.manual_seed(cfg.eval.seed)
    model = AlignedClassifier(cfg.alignment, train.shape[1], train.shape[2], num_classes)
    optimizer = eval_optimizer(model.parameters(), cfg, cfg.eval.lr)
    batch = max(2, min(cfg.eval.batch_size, train.shape[0]))
    model.train()
    for epoch in range(cfg.eval.epochs):
        set_epoch_lr(optimizer, cfg, cfg.eval.lr, epoch, cfg.eval.epochs)
        order = torch.randperm(train.shape[0], generator=generator)
        for start in range(0, train.shape[0] - batch + 1, batch):  # full batches: BatchNorm needs > 1
            idx = order[start : start + batch]
            logits, aligned = model(train[idx])
            loss, _ = classification_loss(logits, train_y[idx], aligned, cfg.alignment)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if progress:
            progress.advance(float(loss.detach()))
    recompute_batchnorm_stats(model, TensorDataset(train, train_y), torch.device("cpu"), batch)
    return model.eval()


def probe_logits(cfg: Config, features: tuple[torch.Tensor, ...], num_classes: int,
                 progress: EpochProgress | None = None) -> torch.Tensor:
    """The test clips' logits of a linear head trained (cfg.eval.seed) on the training features."""
    train, train_y, test, _ = features
    model = train_linear_head(cfg, train, train_y, num_classes, progress)
    with torch.no_grad():
        logits, _ = model(test)
    return logits


def linear_protocol(cfg: Config, encoders, data: RunData, device, progress=None,
                    features: tuple[torch.Tensor, ...] | None = None) -> dict:
    features = features or cached_features(encoders, data, device)
    train, _, test, test_y = features
    with EpochProgress.of(progress, "linear", cfg.eval.epochs) as bar:
        logits = probe_logits(cfg, features, data.num_classes, bar)
    # the per-clip probabilities go to a scores file beside the record (run_protocols), not into it:
    # what fuses several runs' probes (a study's `fuse` variants)
    return {**topk_accuracy(logits, test_y), "epochs": cfg.eval.epochs,
            "train_samples": int(train.shape[0]), "test_samples": int(test.shape[0]),
            SCORES_KEY: (logits.softmax(dim=1).numpy(), test_y.numpy())}


def knn_protocol(cfg: Config, encoders, data: RunData, device, progress=None,
                 features: tuple[torch.Tensor, ...] | None = None) -> dict:
    train, train_y, test, test_y = features or cached_features(encoders, data, device)
    acc = knn_accuracy(train, train_y, test, test_y, data.num_classes, cfg.eval.knn_k, cfg.eval.knn_temperature)
    return {**acc, "k": cfg.eval.knn_k, "temperature": cfg.eval.knn_temperature}
