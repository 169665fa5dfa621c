"""The pretraining model: one ST-GCN encoder per masked view, each trained with Barlow Twins.

For every named view (ASMa: `a` and `b`) an encoder sees three augmented copies of each sequence
(streams: separate, PSTL's design): the anchor (unmasked), a spatial stream (the view's joints
removed from the graph) and a temporal stream (the view's frames dropped). Its loss is
BT(anchor, spatial) + BT(anchor, temporal), with one projector per encoder; the anchor is
projected once and reused for both pairs. With `streams: combined` one stream carries both masks.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from asma.config.schema import Config, ViewMaskConfig
from asma.data.transforms import augment
from asma.masking.frames import frames_to_keep, gather_frames
from asma.masking.joints import joints_to_keep
from asma.models.projector import make_projector
from asma.models.stgcn import STGCN
from asma.objectives.barlow_twins import barlow_twins_loss
from asma.skeleton.layout import Layout


class MaskedViewEncoder(nn.Module):
    """An encoder, its projector and its view's masks."""

    def __init__(self, cfg: Config, view: ViewMaskConfig, layout: Layout, in_channels: int):
        super().__init__()
        self.encoder = STGCN(cfg.encoder, layout, in_channels)
        self.projector = make_projector(cfg.encoder.feature_dim, cfg.projector)
        self.view = view
        self.register_buffer("degrees", torch.as_tensor(layout.degrees), persistent=False)

    def joint_keep(self, batch: int, generator) -> torch.Tensor:
        keep = joints_to_keep(self.view.joints, self.degrees, 1 if self.view.joints.scope == "batch" else batch, generator)
        return keep[0] if self.view.joints.scope == "batch" else keep

    def spatial(self, x: torch.Tensor, generator) -> torch.Tensor:
        return self.encoder(x, self.joint_keep(x.shape[0], generator))

    def temporal(self, x: torch.Tensor, generator) -> torch.Tensor:
        return self.encoder(gather_frames(x, frames_to_keep(x, self.view.frames, generator)))

    def combined(self, x: torch.Tensor, generator) -> torch.Tensor:
        x = gather_frames(x, frames_to_keep(x, self.view.frames, generator))
        return self.encoder(x, self.joint_keep(x.shape[0], generator))


class MaskedPretrainer(nn.Module):
    """All encoders of a run. forward(clips, generator) -> {loss, loss/<view>/<stream>}."""

    def __init__(self, cfg: Config, layout: Layout, in_channels: int = 3):
        super().__init__()
        self.cfg = cfg
        self.layout = layout
        self.views = nn.ModuleDict(
            {name: MaskedViewEncoder(cfg, cfg.masking.specs[name], layout, in_channels) for name in cfg.masking.views}
        )

    def encoders(self) -> dict[str, STGCN]:
        return {name: v.encoder for name, v in self.views.items()}

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """x (N, C, T, V, M) clips; returns the total loss and its parts."""
        lam = self.cfg.projector.off_diagonal_weight
        parts: dict[str, torch.Tensor] = {}
        for name, view in self.views.items():
            anchor = view.projector(view.encoder(augment(x, self.cfg.augment, self.layout, generator)))
            if self.cfg.masking.streams == "separate":
                streams = {
                    "spatial": view.spatial(augment(x, self.cfg.augment, self.layout, generator), generator),
                    "temporal": view.temporal(augment(x, self.cfg.augment, self.layout, generator), generator),
                }
            else:
                streams = {"combined": view.combined(augment(x, self.cfg.augment, self.layout, generator), generator)}
            for stream, feat in streams.items():
                parts[f"loss/{name}/{stream}"] = barlow_twins_loss(anchor, view.projector(feat), lam)
        total = torch.stack(list(parts.values())).sum()
        return {"loss": total, **parts}
