"""The kNN proxy a pretraining run reports at its scheduled epochs: the metric searches read.

The pretraining loop (asma/training/loop.py) does not import evaluation: its caller passes
`proxy_knn` in as the loop's per-epoch check.
"""
from __future__ import annotations

import torch

from asma.config.schema import Config
from asma.evaluation.features import extract_features
from asma.evaluation.knn import knn_accuracy
from asma.evaluation.protocols import calibrate_batchnorm
from asma.models.pretrainer import MaskedPretrainer
from asma.training.data import RunData


def proxy_knn(model: MaskedPretrainer, data: RunData, cfg: Config, device: torch.device) -> dict[str, float]:
    """kNN accuracy of the concatenated encoder features: the metric searches read.

    With `eval.precise_bn` (the default) the encoders' BatchNorm statistics are re-estimated on the
    training clips first, as the final kNN's are (asma.evaluation.protocols.calibrate_batchnorm),
    and put back afterwards, so training goes on with its own running averages. Without it the
    proxy reads features through averages over masked, augmented batches: on MSR Action3D that
    proxy fell from 28.9 to 20.9% between epochs 30 and 60 of one trial (docs/method.md)."""
    encoders = model.encoders()
    saved = {name: [b.clone() for b in e.buffers()] for name, e in encoders.items()} if cfg.eval.precise_bn else {}
    try:
        if cfg.eval.precise_bn:
            calibrate_batchnorm(encoders, data, cfg, device)
        train, train_y = extract_features(encoders, data.train, device)
        test, test_y = extract_features(encoders, data.test, device)
    finally:
        with torch.no_grad():
            for name, buffers in saved.items():
                for buffer, kept in zip(encoders[name].buffers(), buffers):
                    buffer.copy_(kept)
    acc = knn_accuracy(train, train_y, test, test_y, data.num_classes, cfg.eval.knn_k, cfg.eval.knn_temperature)
    return {"knn_top1": acc["top1"], "knn_top5": acc["top5"]}
