"""The raw-input reference: the evaluation protocols on the clip itself, with no encoder.

A self-supervised row is worth reporting only against it: on the small Kinect sets a logistic
regression on raw poses scores as well as the best pretrained linear probe. The "encoder" flattens
the clip the run's data pipeline gives (N, C, T, V, M) -> (N, C*T*V*M): the same frames, sampling
and normalisation the encoders see. The linear probe standardises its input (a BatchNorm without
affine parameters before the linear layer), so on these features it is a standardised multinomial
logistic regression; the kNN compares clips by the cosine of their coordinates; `semi` trains that
logistic regression on the labelled share.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from asma.config.schema import Config
from asma.training.data import RunData

RAW_PROTOCOLS = ("linear", "knn", "semi")


class RawClip(nn.Module):
    """clips (N, C, T, V, M) -> (N, C*T*V*M) float32: no parameters, nothing learnt."""

    def __init__(self, feature_dim: int):
        super().__init__()
        self.feature_dim = feature_dim  # what the probes' heads are built for

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).float()


def raw_input_encoders(cfg: Config, data: RunData) -> dict[str, nn.Module]:
    """The one "encoder" of the raw-input reference, for the run's clips (cfg.data.window frames)."""
    dims = data.in_channels * cfg.data.window * data.dataset.layout.num_joints * cfg.data.persons
    return {"raw": RawClip(dims)}
