"""The lightweight student that distillation trains, and the model that is deployed.

Two families, both parametrised by width, depth, feature size and window T (`student` config
section), so student size is a search dimension:

- `stgcn`: the encoder of asma/models/stgcn.py, narrower and shallower.
- `tcn`: temporal convolutions over the flattened joints of each person, (V * C) channels in;
  no graph, so the cheapest per frame.

`StudentEncoder` resamples clips to its own window first, so it accepts the teacher's clips
(N, C, T, V, M) and slots into every evaluation protocol; a deployed student is fed clips of its
window, where the resampling is skipped. `StudentClassifier` adds the linear head (deployed) and
the projection to the teacher's aligned feature (used only by the feature loss while training).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from asma.config.schema import EncoderConfig, StudentConfig
from asma.models.stgcn import STGCN, channel_plan
from asma.skeleton.layout import Layout


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def resample_frames(x: torch.Tensor, window: int) -> torch.Tensor:
    """(N, C, T, V, M) -> (N, C, window, V, M) by linear interpolation over T."""
    n, c, t, v, m = x.shape
    if t == window:
        return x
    flat = x.permute(0, 1, 3, 4, 2).reshape(n, c * v * m, t)
    flat = F.interpolate(flat, size=window, mode="linear", align_corners=True)
    return flat.view(n, c, v, m, window).permute(0, 1, 4, 2, 3)


class TemporalConvNet(nn.Module):
    """(N, C, T, V, M) -> (N, feature_dim): 1-D convolutions over time of each person's V * C signals.

    Same channel plan as the ST-GCN (widths x1, x2, x4, strides 2 between stages), residual
    blocks, global average over T, mean over persons.
    """

    def __init__(self, cfg: StudentConfig, num_joints: int, in_channels: int):
        super().__init__()
        self.feature_dim = cfg.feature_dim
        self.data_bn = nn.BatchNorm1d(in_channels * num_joints)
        plan = channel_plan(cfg.base_channels, cfg.feature_dim, cfg.depth)
        plan[0] = (in_channels * num_joints, plan[0][1], plan[0][2])
        pad = (cfg.temporal_kernel - 1) // 2
        self.blocks = nn.ModuleList()
        self.shortcuts = nn.ModuleList()
        for i, (c_in, c_out, stride) in enumerate(plan):
            self.blocks.append(nn.Sequential(
                nn.Conv1d(c_in, c_out, cfg.temporal_kernel, stride, pad, bias=False),
                nn.BatchNorm1d(c_out)))
            if i == 0:
                self.shortcuts.append(None)
            elif c_in == c_out and stride == 1:
                self.shortcuts.append(nn.Identity())
            else:
                self.shortcuts.append(nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm1d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v, m = x.shape
        x = self.data_bn(x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t))
        for block, shortcut in zip(self.blocks, self.shortcuts):
            out = block(x)
            x = F.relu(out if shortcut is None else out + shortcut(x))
        return x.mean(dim=2).view(n, m, -1).mean(dim=1)


def student_encoder_config(cfg: StudentConfig) -> EncoderConfig:
    """The ST-GCN student as an encoder config: the same network as the teacher's, smaller."""
    return EncoderConfig(base_channels=cfg.base_channels, feature_dim=cfg.feature_dim, depth=cfg.depth,
                         temporal_kernel=cfg.temporal_kernel)


class StudentEncoder(nn.Module):
    """(N, C, T, V, M), any T -> (N, feature_dim): resample to the student's window, then encode."""

    def __init__(self, cfg: StudentConfig, layout: Layout, in_channels: int = 3):
        super().__init__()
        self.window = cfg.window
        self.feature_dim = cfg.feature_dim
        self.in_channels, self.num_joints = in_channels, layout.num_joints
        if cfg.arch == "stgcn":
            self.backbone = STGCN(student_encoder_config(cfg), layout, in_channels)
        else:
            self.backbone = TemporalConvNet(cfg, layout.num_joints, in_channels)

    def input_shape(self, persons: int) -> tuple[int, int, int, int]:
        """(C, T, V, M) of one clip as the deployed student takes it."""
        return self.in_channels, self.window, self.num_joints, persons

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(resample_frames(x, self.window))


class StudentClassifier(nn.Module):
    """clips -> (logits (N, K), feature (N, feature_dim)); `project` maps a feature to the teacher's."""

    def __init__(self, cfg: StudentConfig, layout: Layout, in_channels: int, num_classes: int, teacher_dim: int):
        super().__init__()
        self.encoder = StudentEncoder(cfg, layout, in_channels)
        self.head = nn.Linear(cfg.feature_dim, num_classes)
        self.project = nn.Linear(cfg.feature_dim, teacher_dim)  # training only: the feature loss

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.encoder(x)
        return self.head(feature), feature

    def deployable(self) -> "DeployedStudent":
        return DeployedStudent(self.encoder, self.head)


class DeployedStudent(nn.Module):
    """What is exported: clips (N, C, window, V, M) -> logits (N, K). No training-only projection."""

    def __init__(self, encoder: StudentEncoder, head: nn.Linear):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))
